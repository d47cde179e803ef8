"""Issue 11 end to end through the installed binding: every path that once let
an action through, or leaked a secret, now fails closed."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
from typing import Any, Dict, List

import pytest

import signoff

POLICY = """
[policy]
name = "fail-closed"
redact = ["args.creds[*].secret"]

[groups]
owners = ["user:carol@example.com", "user:alice@example.com", "user:\\u0430lice@example.com", "user:erin@example.com"]

[owners]
"agent:erin-*" = ["user:erin@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query", "fs.read"]

[[rules]]
id = "no-sql"
effect = "deny"
actions = ["sql.exec", "iam.grant"]

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
redact = ["args.pin"]

[[rules]]
id = "slack-only"
effect = "approve"
actions = ["deploy.push"]
approvers = "owners"
channels = ["slack"]
"""


class Lines(signoff.AuditSink):
    def __init__(self) -> None:
        self.lines: List[str] = []

    def append(self, lines: List[str]) -> None:
        self.lines.extend(lines)

    def records(self) -> List[Dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def make(**kw: Any) -> "tuple[signoff.Gate, Lines]":
    sink = Lines()
    gate = signoff.Gate(signoff.Policy.from_toml(POLICY), audit=sink, approver="queue", **kw)
    return gate, sink


def pending(gate: signoff.Gate, name: str = "db.export", **kw: Any) -> str:
    kw.setdefault("actor", "agent:billing-bot")
    kw.setdefault("on_behalf_of", "user:alice@example.com")
    got = gate.submit(name, **kw)
    assert isinstance(got, signoff.Pending), got
    return got.request_id


def test_1_a_null_matcher_does_not_load() -> None:
    for key in ["actions", "resources", "actors", "env", "when"]:
        text = '{"rules": [{"id": "r", "effect": "allow", "%s": null}]}' % key
        with pytest.raises(signoff.PolicyError) as err:
            signoff.Policy.from_json(text)
        assert "null" in str(err.value), key


@pytest.mark.parametrize("char", ["\u200b", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u202e"])
def test_2_invisible_characters_are_refused(char: str) -> None:
    gate, sink = make()
    with pytest.raises(signoff.InvalidAction):
        gate.require("db.export", actor="agent:bot", on_behalf_of=f"user:ali{char}ce@example.com")
    with pytest.raises(signoff.InvalidAction):
        gate.require(f"sql.exec{char}", actor="agent:bot")
    with pytest.raises(signoff.InvalidAction):
        gate.require("db.query", actor="agent:bot", env=f"prod{char}")
    gate.close()
    assert sum("invalid action" in r.get("error", "") for r in sink.records()) == 3


def test_2_case_lookalikes_and_owners_cannot_approve() -> None:
    gate, sink = make()
    rid = pending(gate, on_behalf_of="user:Alice@Example.com")
    for voter in ["user:alice@example.com", "user:\u0430lice@example.com"]:
        with pytest.raises(signoff.VoteRejected) as err:
            gate.vote(rid, voter, "approve")
        assert err.value.reason == "self_approval", voter
    rid = pending(gate, actor="agent:erin-reports", on_behalf_of="user:carol@example.com")
    with pytest.raises(signoff.VoteRejected) as err:
        gate.vote(rid, "user:erin@example.com", "approve")
    assert err.value.reason == "self_approval"
    gate.close()
    assert sum(r.get("outcome") == "self_approval" for r in sink.records()) == 3


def test_3_a_reused_action_id_is_refused_and_audited() -> None:
    gate, sink = make()
    rid = pending(gate, id="X1", args={"rows": 5})
    gate.vote(rid, "user:carol@example.com", "approve")
    with pytest.raises(signoff.SignoffError) as err:
        gate.require("iam.grant", actor="agent:billing-bot", id="X1")
    assert err.value.code == "SIGNOFF_ID_REUSED"
    gate.close()
    assert any("action id reused" in r.get("error", "") for r in sink.records())


def test_4_one_approval_one_permit_and_expired_permits_cannot_complete() -> None:
    gate, sink = make(permit_ttl=0.05)
    kw = dict(actor="agent:billing-bot", on_behalf_of="user:alice@example.com", args={"rows": 5}, id="once")
    rid = pending(gate, **kw)
    gate.vote(rid, "user:carol@example.com", "approve")
    permit = gate.resume(rid)
    assert not permit.expired
    with pytest.raises(signoff.PermitUsed):
        gate.submit("db.export", **kw)
    with pytest.raises(signoff.PermitUsed):
        gate.resume(rid)
    time.sleep(0.1)
    assert permit.expired
    with pytest.raises(signoff.SignoffError) as err:
        permit.complete(ok=True)
    assert err.value.code == "SIGNOFF_PERMIT_EXPIRED"
    gate.close()
    events = [r["event"] for r in sink.records()]
    assert "action.completed" not in events
    assert sink.records()[-1]["outcome"] == "expired"


def test_5_unknown_cel_functions_do_not_load() -> None:
    for when in ['frobnicate(args.x) == 1', 'args.sql.containz("drop")']:
        with pytest.raises(signoff.PolicyError) as err:
            signoff.Policy.from_toml(f"[[rules]]\nid = 'r'\neffect = 'deny'\nwhen = '{when}'\n")
        assert "unknown" in str(err.value)


def test_6_an_absurd_duration_does_not_load() -> None:
    text = "[groups]\ng = ['user:a@example.com']\n[[rules]]\nid = 'r'\neffect = 'approve'\napprovers = 'g'\ntimeout = '300000y'\n"
    with pytest.raises(signoff.PolicyError) as err:
        signoff.Policy.from_toml(text)
    assert "maximum of a year" in str(err.value)


def test_redaction_is_keyed_and_applies_whichever_rule_decides(tmp_path: pathlib.Path) -> None:
    key = tmp_path / "redact.key"
    key.write_text(os.urandom(32).hex())
    gate, sink = make(redact_key_file=str(key))
    args = {"pin": "1234", "password": "hunter2", "creds": [{"secret": "s1"}], "headers": {"Authorization": "Bearer zz"}}
    with pytest.raises(signoff.Denied):
        gate.require("iam.grant", actor="agent:bot", args=args)
    permit = gate.require("db.query", actor="agent:bot", args=args)
    assert permit.args == args
    permit.complete()
    rid = pending(gate, args=args)
    seen = gate.request(rid)
    assert seen.args["pin"].startswith("redacted:k")
    gate.close()
    text = "\n".join(sink.lines)
    for secret in ["1234", "hunter2", "s1", "Bearer zz"]:
        assert secret not in text


def test_channel_restricted_rules_count_only_that_channel() -> None:
    gate, sink = make()
    rid = pending(gate, name="deploy.push", on_behalf_of=None)
    with pytest.raises(signoff.VoteRejected) as err:
        gate.vote(rid, "user:carol@example.com", "approve", channel="slack")
    assert err.value.reason == "channel_not_allowed"
    gate.close()
    refused = [r for r in sink.records() if r.get("outcome") == "channel_not_allowed"]
    assert refused[0]["assurance"] == "asserted"


def test_gate_defaults_and_guard_without_an_actor() -> None:
    gate, sink = make(actor="agent:reader", env="prod")

    @gate.guard("fs.read")
    def read(path: str) -> str:
        return path

    assert read("/etc/hostname") == "/etc/hostname"
    assert gate.evaluate("fs.read").effect == "allow"
    bare, _ = make()
    with pytest.raises(signoff.InvalidAction) as err:
        bare.require("fs.read")
    assert "once on the gate" in str(err.value)
    gate.close()
    decided = [r for r in sink.records() if r["event"] == "policy.decided"]
    assert decided[0]["actor"] == "agent:reader" and decided[0]["env"] == "prod"
