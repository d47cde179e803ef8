"""What the fake agents' tools did, kept in a file so that a tool run in a
child process is counted too."""

from __future__ import annotations

import json
import pathlib
from typing import Any, List, Tuple


def record(ran: pathlib.Path, tool: str, arg: Any) -> None:
    with open(ran, "a") as fh:
        fh.write(json.dumps([tool, arg]) + "\n")


def runs(ran: pathlib.Path) -> List[Tuple[str, Any]]:
    if not ran.exists():
        return []
    return [tuple(json.loads(line)) for line in ran.read_text().splitlines()]  # type: ignore[misc]
