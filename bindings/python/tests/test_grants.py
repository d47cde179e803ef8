"""Grants and break-glass from Python (DESIGN §13): a vote with a grant
length, and a break-glass vote, through the in-process vote API."""

from __future__ import annotations

import json
import pathlib
import threading
import time
from typing import Any, Dict, List

import pytest

import signoff

POLICY = """
[policy]
break_glass = { approvers = "oncall" }
[groups]
owners = ["user:carol@example.com", "user:dan@example.com"]
oncall = ["user:olga@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
max_grant = "1h"
[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.push"]
approvers = "owners"
min_approvals = 2
"""


class Later(signoff.Approver):
    """Votes from another thread, as a reviewer would."""

    def __init__(self, **vote: object) -> None:
        self.vote = vote
        self.gate: signoff.Gate
        self.asked = 0

    def review(self, request: signoff.ApprovalRequest) -> None:
        self.asked += 1

        def cast() -> None:
            time.sleep(0.05)
            self.gate.vote(request.id, **self.vote)  # type: ignore[arg-type]

        threading.Thread(target=cast).start()


def events(trail: pathlib.Path, name: str) -> List[Dict[str, Any]]:
    return [r for r in map(json.loads, trail.read_text().splitlines()) if r["event"] == name]


def test_a_vote_with_a_grant_permits_the_same_action_without_asking(tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "audit.jsonl"
    later = Later(voter="user:carol@example.com", grant="30m")
    gate = signoff.Gate(signoff.Policy.from_toml(POLICY), audit=str(trail), approver=later)
    later.gate = gate
    export: Dict[str, Any] = {"actor": "agent:bot", "resource": "postgres://prod/x", "args": {"rows": 5}}
    gate.require("db.export", **export).complete()
    assert later.asked == 1
    permit = gate.require("db.export", **export)
    assert later.asked == 1, "the grant covered it: nobody was asked"
    assert permit.approved_by == ["user:carol@example.com"]
    permit.complete()
    gate.close()
    used = events(trail, "grant.used")
    assert len(used) == 1 and used[0]["voter"] == "user:carol@example.com"
    assert signoff.Vote("user:carol@example.com", grant="30m").grant == "30m"
    with pytest.raises(ValueError, match="grant"):
        signoff.Vote("user:carol@example.com", grant="soon")


def test_a_grant_past_max_grant_and_break_glass_without_a_reason_are_refused(tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "audit.jsonl"

    class Quiet(signoff.Approver):
        def review(self, request: signoff.ApprovalRequest) -> None:
            pass

    gate = signoff.Gate(signoff.Policy.from_toml(POLICY), audit=str(trail), approver=Quiet())
    done: Dict[str, Any] = {}

    def run() -> None:
        permit = gate.require("deploy.push", actor="agent:ci", id="d-1")
        done["by"] = permit.approved_by
        permit.complete()

    waiting = threading.Thread(target=run)
    waiting.start()
    for _ in range(200):
        if gate.pending():
            break
        time.sleep(0.01)
    request = gate.pending()[0]
    with pytest.raises(signoff.VoteRejected) as info:
        gate.vote(request.id, "user:carol@example.com", grant="2h")
    assert info.value.reason == "bad_grant"
    with pytest.raises(signoff.VoteRejected) as info:
        gate.vote(request.id, "user:olga@example.com", break_glass=True)
    assert info.value.reason == "break_glass_refused"
    assert gate.vote(request.id, "user:olga@example.com", break_glass=True, comment="INC-42") == "approved"
    waiting.join(5)
    assert done["by"] == ["user:olga@example.com"]
    gate.close()
    assert len(events(trail, "approval.break_glass")) == 1
