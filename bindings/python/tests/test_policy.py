"""Policy evaluation from Python, on the shared case table."""

from __future__ import annotations

import json
import pathlib

import pytest

import signoff
from conftest import ROOT

CASES = ROOT / "tests" / "cases"


def load_cases() -> list[dict]:
    lines = (CASES / "cases.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_shared_case_table_gives_the_rust_engines_decisions() -> None:
    policies: dict[str, signoff.Policy] = {}
    cases = load_cases()
    assert len(cases) >= 60
    for case in cases:
        file = case["policy"]
        if file not in policies:
            policies[file] = signoff.Policy.from_file(CASES / "policies" / file)
        action = dict(case["action"])
        name = action.pop("name")
        action.pop("id", None)
        ev = policies[file].evaluate(
            name, now=case.get("now", "2026-01-01T12:00:00Z"), **action
        )
        assert (ev.effect, ev.rules) == (case["effect"], case["rules"]), case["id"]


def test_evaluation_carries_reason_approval_and_digest(policy: signoff.Policy) -> None:
    ev = policy.evaluate("db.export", actor="agent:bot", args={"rows": 5000})
    assert ev.effect == "approve"
    assert ev.rules == ["export"]
    assert ev.reason == "bulk export of production data"
    assert ev.approval is not None
    assert ev.approval["requirements"] == [{"group": "data-owners", "min": 2, "rule": "export"}]
    assert ev.approval["redact"] == ["args.password"]
    assert ev.policy_digest == policy.digest
    assert ev.trace is None
    explained = policy.explain("db.export", actor="agent:bot", args={"rows": 5000})
    assert explained.trace is not None
    assert [t["rule"] for t in explained.trace] == policy.rules


def test_a_condition_error_fails_closed_and_is_reported(policy: signoff.Policy) -> None:
    ev = policy.evaluate("sql.exec", actor="agent:bot", args={"query": "x"})
    assert ev.effect == "deny"
    assert ev.errors and ev.errors[0]["rule"] == "no-drop"


def test_a_malformed_policy_raises_policy_error_with_its_location() -> None:
    with pytest.raises(signoff.PolicyError) as info:
        signoff.Policy.from_file(ROOT / "tests" / "malformed" / "cel_syntax.toml")
    err = info.value
    assert isinstance(err, signoff.SignoffError)
    assert err.rule == "big-export"
    assert err.issues[0]["line"] == 12 and err.issues[0]["column"] == 8
    assert "cel_syntax.toml:12:8" in str(err)
    with pytest.raises(signoff.PolicyError, match="unknown field"):
        signoff.Policy.from_toml("[policy]\nnme = 'x'")


def test_invalid_actions_are_denied_with_the_reason(policy: signoff.Policy) -> None:
    ev = policy.evaluate("db.query", actor="robot:x")
    assert ev.effect == "deny"
    assert "unknown kind" in ev.reason


def test_a_lazily_read_evaluation_is_the_one_decided_at_its_instant() -> None:
    """`rules`, `reason` and `to_dict()` are worked out on first read: for a
    condition on `now` they must still describe the decision `effect` gave."""
    import time

    policy = signoff.Policy.from_toml(
        """
        [[rules]]
        id = "even-second"
        effect = "allow"
        actions = ["tick"]
        when = "now.getSeconds() % 2 == 0"
        """
    )
    seen = set()
    for _ in range(6):
        ev = policy.evaluate("tick", actor="agent:clock")
        time.sleep(0.55)  # the second's parity has changed by the first read
        allowed = ev.effect == "allow"
        seen.add(allowed)
        assert ev.rules == (["even-second"] if allowed else [])
        assert ev.to_dict()["effect"] == ev.effect
        assert ("even-second" in ev.reason) == allowed
    assert seen == {True, False}
