"""The shared framework-adapter contract (DESIGN §11) without any framework:
mapping, action ids, deny text, deadlines, failing closed, and the
ImportError that names the extra. The adapters themselves are tested
against the real frameworks in bindings/python/tests_adapters."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any, Iterator

import pytest

import signoff
from signoff._adapters import Allowed, Paused, Refused, ToolCall, ToolGate, deny_text

CALL = ToolCall(framework="test", tool="db.export", args={"rows": 5000}, call_id="call_1", thread_id="t-1", justification="export it")


@pytest.fixture
def gate(policy: signoff.Policy) -> signoff.Gate:
    return signoff.Gate(policy, approver="queue", actor="agent:bot", on_behalf_of="user:alice@example.com")


@pytest.mark.parametrize(
    "module, extra, framework",
    [
        ("signoff.langchain", "langchain", "langchain"),
        ("signoff.openai_agents", "openai-agents", "agents"),
        ("signoff.pydantic_ai", "pydantic-ai", "pydantic_ai"),
        ("signoff.crewai", "crewai", "crewai"),
    ],
)
def test_importing_an_adapter_without_its_framework_names_the_extra(
    module: str, extra: str, framework: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, framework, None)  # the framework is not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError) as err:
        importlib.import_module(module)
    assert f'pip install "signoff[{extra}]"' in str(err.value)


def test_tool_names_map_to_action_names_and_ids_to_the_thread_and_call(gate: signoff.Gate) -> None:
    plain = ToolGate(gate, "test")
    assert plain.name_of("delete_file") == "delete_file"
    assert ToolGate(gate, "test", prefix="fs.").name_of("delete_file") == "fs.delete_file"
    mapped = ToolGate(gate, "test", prefix="fs.", action_name={"rm": "delete"})
    assert (mapped.name_of("rm"), mapped.name_of("ls")) == ("fs.delete", "fs.ls")
    assert ToolGate(gate, "test", action_name=str.upper).name_of("rm") == "RM"
    assert plain.action_id(CALL) == "test:t-1:call_1"
    assert plain.action_id(ToolCall("test", "x", {}, "call_1")) == "test:call_1"
    assert plain.action_id(ToolCall("test", "x", {}, None)) is None


def test_an_allowed_call_carries_its_context_and_justification(gate: signoff.Gate) -> None:
    got = ToolGate(gate, "test").decide(ToolCall("test", "db.query", {"sql": "select 1"}, "c9", "t-1", "looking"))
    assert isinstance(got, Allowed) and not got.edited
    assert got.permit.action_id == "test:t-1:c9"
    got.permit.complete()


def test_deny_text_names_the_rule_and_the_reason(gate: signoff.Gate) -> None:
    got = ToolGate(gate, "test").decide(ToolCall("test", "sql.exec", {"sql": "drop table x"}, "c1"))
    assert isinstance(got, Refused) and isinstance(got.error, signoff.Denied)
    assert got.message == "signoff: denied (rule no-drop): destructive DDL is never run by agents"
    assert ToolGate(gate, "test").decide(ToolCall("test", "nothing", {}, "c2")).message == (  # type: ignore[union-attr]
        "signoff: denied: no rule matched; the policy default is deny"
    )
    assert deny_text(KeyError("x")) == "signoff: denied: internal error (KeyError: 'x')"


def test_the_adapters_deadline_denies_and_cancels_the_request(gate: signoff.Gate) -> None:
    got = ToolGate(gate, "test", deadline=0.2).decide(CALL)
    assert isinstance(got, Refused) and isinstance(got.error, signoff.AdapterError)
    assert got.message == "signoff: denied: no decision within the adapter's deadline of 0.2 s"
    assert got.error.code == "SIGNOFF_ADAPTER"


def test_the_async_path_denies_on_its_deadline_too(gate: signoff.Gate) -> None:
    got = asyncio.run(ToolGate(gate, "test", deadline=0.2).decide_async(CALL))
    assert isinstance(got, Refused) and "deadline of 0.2 s" in got.message


def test_submit_pauses_then_follows_the_same_request(gate: signoff.Gate) -> None:
    tg = ToolGate(gate, "test")
    first = tg.submit(CALL)
    assert isinstance(first, Paused)
    assert first.payload["signoff"]["action_id"] == "test:t-1:call_1"
    again = tg.submit(CALL)
    assert isinstance(again, Paused) and again.request_id == first.request_id
    # carol edits, then dan approves the edited args
    gate.vote(first.request_id, "user:carol@example.com", "approve", args={"rows": 2000})
    gate.vote(first.request_id, "user:dan@example.com", "approve")
    allowed = tg.submit(CALL)
    assert isinstance(allowed, Allowed) and allowed.edited and allowed.args == {"rows": 2000}
    allowed.permit.complete()
    used = tg.submit(CALL)
    assert isinstance(used, Refused) and isinstance(used.error, signoff.PermitUsed)


class Broken:
    """A gate whose every call fails, as a bug or an outage would."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"{name} is broken")


def test_any_internal_error_fails_closed(gate: signoff.Gate) -> None:
    tg = ToolGate(Broken(), "test")
    for got in [tg.decide(CALL), tg.submit(CALL), asyncio.run(tg.decide_async(CALL)), asyncio.run(tg.submit_async(CALL))]:
        assert isinstance(got, Refused)
        assert got.message.startswith("signoff: denied: internal error (RuntimeError:")
        assert isinstance(got.error, signoff.AdapterError) and isinstance(got.error.__cause__, RuntimeError)
    failing = ToolGate(gate, "test", action_name=lambda tool: 1 / 0)  # type: ignore[arg-type,return-value]
    assert isinstance(failing.decide(CALL), Refused)
    with pytest.raises(signoff.AdapterError):
        tg.raise_refusal(Refused("signoff: denied: x", RuntimeError("x")))


def test_bad_options_are_refused(gate: signoff.Gate) -> None:
    with pytest.raises(ValueError, match="on_deny"):
        ToolGate(gate, "test", on_deny="log")
    with pytest.raises(ValueError, match="deadline"):
        ToolGate(gate, "test", deadline=-1)
