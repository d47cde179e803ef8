"""Checks the events of `signoff audit export --format ocsf` (written by
crates/signoff-cli/tests/report.rs to target/validators/ocsf/*.jsonl):

1. each line validates as an OCSF 1.3.0 API Activity with the pydantic-ocsf
   models (types, enums, required attributes, type_uid = class_uid * 100 +
   activity_id);
2. since those models accept unknown keys (keeping them as extras), no
   model at any depth may hold one: every key must be an attribute of its
   class or object (`unmapped` is where our own fields go).

Usage: python ocsf_events.py FILE.jsonl...
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ocsf.v1_3_0.events import ApiActivity
from pydantic import BaseModel

# base_event's `$include`s (includes/classification.json and
# includes/occurrence.json) are not resolved in the schema or the models
# pydantic-ocsf ships: their attributes, as OCSF 1.3.0 defines them, with
# those it marks required.
INCLUDED = {
    "activity_id": int, "activity_name": str, "category_uid": int, "category_name": str,
    "class_uid": int, "class_name": str, "type_uid": int, "type_name": str,
    "time": int, "time_dt": str, "start_time": int, "end_time": int, "duration": int,
    "count": int, "timezone_offset": int,
}
INCLUDED_REQUIRED = ["activity_id", "category_uid", "class_uid", "type_uid", "time"]


def included(event: dict[str, Any], where: str, errors: list[str]) -> None:
    for key in INCLUDED_REQUIRED:
        if key not in event:
            errors.append(f"{where}: required attribute `{key}` is missing")
    for key, kind in INCLUDED.items():
        if key in event and not isinstance(event[key], kind):
            errors.append(f"{where}: `{key}` must be of type {kind.__name__}")
    if event.get("class_uid") != 6003 or event.get("category_uid") != 6:
        errors.append(f"{where}: not an API Activity (class 6003, category 6)")
    if event.get("activity_id") not in (0, 1, 2, 3, 4, 99):
        errors.append(f"{where}: `activity_id` is not one of API Activity's")


def unknown_keys(value: Any, where: str, errors: list[str], top: bool = False) -> None:
    """Every key the models kept as an extra (not an OCSF attribute), at any
    depth; `unmapped` holds our own fields and is not walked."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            if top and key in INCLUDED:
                continue
            errors.append(f"{where}: `{key}` is not an attribute in OCSF 1.3.0")
        for name in type(value).model_fields:
            if name != "unmapped":
                unknown_keys(getattr(value, name), f"{where}.{name}", errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            unknown_keys(item, f"{where}[{i}]", errors)


def problems(event: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    try:
        model = ApiActivity.model_validate(event)
    except Exception as e:  # pydantic's ValidationError, with every problem
        errors.append(str(e))
    else:
        unknown_keys(model, "event", errors, top=True)
    included(event, "event", errors)
    return errors


def refuses_known_bad(good: dict[str, Any]) -> bool:
    """The checks must catch what they are for, on a copy of a real event."""
    def variant(change: Any) -> dict[str, Any]:
        bad = json.loads(json.dumps(good))
        change(bad)
        return bad

    bad = [
        variant(lambda e: e["actor"].__setitem__("bogus", 1)),
        variant(lambda e: e["metadata"]["product"].__setitem__("nope", "x")),
        variant(lambda e: e.__setitem__("severity_id", 42)),
        variant(lambda e: e.__setitem__("type_uid", 600301)),
        variant(lambda e: e.pop("time")),
        variant(lambda e: e.pop("src_endpoint")),
        variant(lambda e: e.__setitem__("class_uid", 3002)),
    ]
    return all(problems(b) for b in bad)


def main(paths: list[str]) -> int:
    if not paths:
        print("no files to check", file=sys.stderr)
        return 1
    checked = 0
    errors: list[str] = []
    with open(paths[0], encoding="utf-8") as f:
        first = json.loads(f.readline())
    if not refuses_known_bad(first):
        print("the OCSF checks accept known-bad events", file=sys.stderr)
        return 1
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                event = json.loads(line)
                errors.extend(f"{path}:{n}: {e}" for e in problems(event))
                checked += 1
    for e in errors:
        print(e, file=sys.stderr)
    if checked == 0:
        print("no events in the files", file=sys.stderr)
        return 1
    print(f"ocsf: {checked} event(s) checked against OCSF 1.3.0 API Activity, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
