"""Policy tests from Python (`Policy.test`) and shadow policies (`shadow=`), DESIGN §12."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, List

import pytest

import signoff

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "policies" / "prod-agents.toml"
TESTS = ROOT / "examples" / "policies" / "prod-agents.test.toml"
FIXTURES = ROOT / "tests" / "policy-tests"

LIVE = """
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "small-exports"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"
"""

# the candidate tightens exports: above 100 rows they are denied
CANDIDATE = LIVE.replace("args.rows <= 1000", "args.rows <= 100") + """
[[rules]]
id = "no-big-exports"
effect = "deny"
actions = ["db.export"]
when = "args.rows > 100"
"""


def records(path: pathlib.Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_policy_tests_run_from_python() -> None:
    policy = signoff.Policy.from_file(EXAMPLE)
    report = policy.test(TESTS)
    assert report.ok and bool(report)
    assert (report.passed, report.failed) == (12, 0)
    assert report.uncovered == []
    report.check()
    assert report.text.endswith("12 passed, 0 failed\n")
    assert report.to_dict()["passed"] == 12


def test_a_failing_case_fails_check_with_the_diff() -> None:
    report = signoff.Policy.from_file(EXAMPLE).test(FIXTURES / "failing.test.toml", TESTS)
    assert (report.passed, report.failed) == (13, 1)
    failed = [r for r in report.results if not r["passed"]]
    assert failed[0]["expect"] == "approve" and failed[0]["effect"] == "allow"
    assert failed[0]["line"] == 7
    with pytest.raises(AssertionError) as err:
        report.check()
    assert "- expected: approve by `prod-export`" in str(err.value)
    assert "+ actual:   allow by `small-exports`" in str(err.value)


def test_a_malformed_test_file_raises_a_located_policy_error() -> None:
    policy = signoff.Policy.from_file(EXAMPLE)
    with pytest.raises(signoff.PolicyError) as err:
        policy.test(FIXTURES / "bad-expect.test.toml")
    issue = err.value.issues[0]
    assert (issue["line"], issue["column"]) == (3, 10)
    assert issue["file"].endswith("bad-expect.test.toml")
    assert "`expect` is `maybe`" in issue["message"]
    with pytest.raises(TypeError):
        policy.test()


def test_a_shadow_policy_records_where_it_differs_and_the_live_one_decides(tmp_path: pathlib.Path) -> None:
    live = signoff.Policy.from_toml(LIVE)
    candidate = signoff.Policy.from_toml(CANDIDATE)
    trail = tmp_path / "audit.jsonl"
    gate = signoff.Gate(live, audit=str(trail), shadow=candidate, actor="agent:bot")
    rows = [5, 50, 100, 101, 500, 1000, 1001, 5000]
    for n in rows:
        try:
            gate.require("db.export", args={"rows": n}).complete()
        except signoff.Denied:
            pass
    gate.require("db.query").complete()
    gate.close()
    recs = records(trail)
    decided = [r for r in recs if r["event"] == "policy.decided"]
    # the live policy decided: up to 1000 rows allowed
    assert [r["effect"] for r in decided] == ["allow"] * 6 + ["deny"] * 2 + ["allow"]
    shadow = [r for r in recs if r["event"] == "policy.shadow"]
    # independently: the two policies differ where 100 < rows <= 1000 (allow vs
    # deny) and above 1000 (default deny vs the candidate's rule)
    differ = [
        n for n in rows
        if (live.evaluate("db.export", actor="agent:bot", args={"rows": n}).effect,
            live.evaluate("db.export", actor="agent:bot", args={"rows": n}).rules)
        != (candidate.evaluate("db.export", actor="agent:bot", args={"rows": n}).effect,
            candidate.evaluate("db.export", actor="agent:bot", args={"rows": n}).rules)
    ]
    assert differ == [101, 500, 1000, 1001, 5000]
    assert [r["args"]["rows"] for r in recs if r["event"] == "policy.decided"
            and any(s["action_id"] == r["action_id"] for s in shadow)] == differ
    assert all(s["effect"] == "deny" and s["rule"] == "no-big-exports" for s in shadow)
    assert all(s["policy_digest"] == candidate.digest for s in shadow)
    # each shadow record follows its decision
    for s in shadow:
        i = recs.index(s)
        assert recs[i - 1]["event"] == "policy.decided" and recs[i - 1]["action_id"] == s["action_id"]


def test_shadow_policy_from_a_gate_config(tmp_path: pathlib.Path) -> None:
    (tmp_path / "live.toml").write_text(LIVE)
    (tmp_path / "candidate.toml").write_text(CANDIDATE)
    (tmp_path / "gate.toml").write_text(
        'policy = "live.toml"\nshadow_policy = "candidate.toml"\naudit = ["jsonl:a.jsonl"]\n'
        '[identity]\nactor = "agent:bot"\n'
    )
    gate = signoff.Gate.from_config(tmp_path / "gate.toml")
    gate.require("db.export", args={"rows": 500}).complete()
    gate.close()
    events = [r["event"] for r in records(tmp_path / "a.jsonl")]
    assert events[:2] == ["policy.decided", "policy.shadow"]
    # a shadow policy with a config file belongs in the file
    with pytest.raises(ValueError):
        signoff.Gate(config=str(tmp_path / "gate.toml"), shadow=signoff.Policy.from_toml(CANDIDATE))
    # a candidate that does not load stops the gate from starting
    (tmp_path / "candidate.toml").write_text("[[rules]]\nid = 1\n")
    with pytest.raises(Exception) as err:
        signoff.Gate.from_config(tmp_path / "gate.toml")
    assert "candidate.toml" in str(err.value)
