"""signoff.openai_agents through real OpenAI Agents SDK runs with its scripted fake model."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

import pytest
from agents import Agent, Runner, RunState, ToolInputGuardrailTripwireTriggered

import signoff
from _oa_agent import model, outputs, tools
from _tools import runs
from conftest import Env, Reviewer, action_ids, run_child, settles_to_no_pending, vote_in_process
from signoff.openai_agents import SignoffGuard

DELETE = ("delete_file", {"path": "/data/x"}, "call_1")
READ = ("read_file", {"path": "/data/y"}, "call_2")


def agent(env: Env, *calls: Any, guard: Any = None, **kw: Any) -> Agent[Any]:
    guard = guard or SignoffGuard(env.gate, **kw)
    return Agent(name="ops", model=model(*calls), tools=guard.tools(tools(env.dir / "ran")))


def run(env: Env, *calls: Any, **kw: Any) -> Dict[str, str]:
    return outputs(asyncio.run(Runner.run(agent(env, *calls, **kw), "clean up")))


def test_an_allowed_call_runs_with_the_models_args_and_completes(env: Env) -> None:
    assert run(env, READ, ("read_file", {"path": "/boom"}, "call_5")) == {
        "call_2": "contents of /data/y",
        "call_5": "An error occurred while running the tool. Please try again.",
    }
    assert sorted(runs(env.dir / "ran")) == [("read_file", "/boom"), ("read_file", "/data/y")]
    completed = {r["action_id"]: (r["outcome"], r.get("error")) for r in env.events("action.completed")}
    assert completed == {
        "openai-agents:call_2": ("success", None),
        "openai-agents:call_5": ("failure", "RuntimeError('disk on fire')"),
    }


def test_a_denied_call_never_runs_and_the_model_reads_the_reason(env: Env) -> None:
    assert run(env, ("drop_table", {"name": "users"}, "call_9")) == {
        "call_9": "signoff: denied (rule no-drop): tables are never dropped by agents"
    }
    assert runs(env.dir / "ran") == []


def test_on_deny_raise_trips_the_guardrail(env: Env) -> None:
    with pytest.raises(ToolInputGuardrailTripwireTriggered) as err:
        run(env, ("drop_table", {"name": "users"}, "call_9"), on_deny="raise")
    assert err.value.output.output_info == {
        "signoff": "signoff: denied (rule no-drop): tables are never dropped by agents",
        "code": "SIGNOFF_DENIED",
    }
    assert runs(env.dir / "ran") == []


def test_an_approve_call_waits_for_a_vote_from_another_thread_then_runs(env: Env) -> None:
    with Reviewer(env.gate) as reviewer:
        assert run(env, DELETE) == {"call_1": "deleted /data/x"}
    assert runs(env.dir / "ran") == [("delete_file", "/data/x")]
    assert reviewer.voted_on is not None and reviewer.voted_on.action_id == "openai-agents:call_1"
    assert reviewer.voted_on.context["framework"] == "openai-agents"


def test_a_reviewer_edit_changes_the_args_the_tool_receives(env: Env) -> None:
    with Reviewer(env.gate, args={"path": "/data/x.tmp"}):
        assert run(env, DELETE) == {"call_1": "deleted /data/x.tmp"}
    assert runs(env.dir / "ran") == [("delete_file", "/data/x.tmp")]


def test_the_policy_timeout_and_the_adapters_deadline_deny(env: Env) -> None:
    assert run(env, ("restart", {"service": "db"}, "call_3")) == {
        "call_3": "signoff: denied (rule quick): no decision before the timeout"
    }
    assert run(env, DELETE, deadline=0.3) == {"call_1": "signoff: denied: no decision within the adapter's deadline of 0.3 s"}
    assert runs(env.dir / "ran") == []
    assert settles_to_no_pending(env.gate)


def test_the_store_going_down_denies(env: Env) -> None:
    env.break_store()
    seen = run(env, READ, DELETE)
    assert runs(env.dir / "ran") == []
    assert set(seen) == {"call_1", "call_2"}
    assert all(t.startswith("signoff: denied: approval store") and "not a database" in t for t in seen.values())


def test_the_trail_verifies_and_names_each_tool_call_id(env: Env) -> None:
    with Reviewer(env.gate):
        run(env, DELETE, READ, ("drop_table", {"name": "t"}, "call_3"), thread_id="s-9")
    env.verify()
    assert sorted(action_ids(env.records())) == ["openai-agents:s-9:call_1", "openai-agents:s-9:call_2", "openai-agents:s-9:call_3"]


def test_parallel_calls_one_allowed_one_pending(env: Env) -> None:
    ran = env.dir / "ran"
    with Reviewer(env.gate, ready=lambda: ("read_file", "/data/y") in runs(ran)):
        assert run(env, DELETE, READ) == {"call_1": "deleted /data/x", "call_2": "contents of /data/y"}
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x")]


def test_durable_mode_an_approval_given_in_the_sdk_alone_does_not_run_the_tool(env: Env) -> None:
    guard = SignoffGuard(env.gate, mode="durable")
    ops = agent(env, DELETE, guard=guard)

    async def main() -> Dict[str, str]:
        result = await Runner.run(ops, "clean up")
        (item,) = result.interruptions
        state = result.to_state()
        state.approve(item)  # the app approves without asking signoff
        return outputs(await Runner.run(ops, state))

    seen = asyncio.run(main())
    assert runs(env.dir / "ran") == []
    assert seen["call_1"].startswith("signoff: denied: request `") and seen["call_1"].endswith("is still pending")


def test_durable_mode_resumes_in_a_new_process_after_a_vote_from_another(env: Env) -> None:
    ran, state = env.dir / "ran", str(env.dir / "state.json")
    first = run_child("_oa_agent.py", "start", env.store, str(env.dir / "audit-start.jsonl"), state, str(ran))
    assert first["interruptions"] == [["delete_file", "call_1"]]
    assert runs(ran) == [("read_file", "/data/y")], "the allowed call ran; the pending one did not"
    (pending,) = env.gate.pending()
    assert pending.action_id == "openai-agents:s-1:call_1"
    # a reviewer edits the args from a separate process
    assert vote_in_process(env, pending.id, "approve", args={"path": "/data/x.old"}) == "approved"
    second = run_child("_oa_agent.py", "resume", env.store, str(env.dir / "audit-resume.jsonl"), state, str(ran))
    assert second["still_pending"] == [] and second["final"] == "done"
    assert second["outputs"] == {"call_2": "contents of /data/y", "call_1": "deleted /data/x.old"}
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x.old")], "each tool ran exactly once"
    records = env.records()
    assert [r["action_id"] for r in records if r["event"] == "approval.requested"] == ["openai-agents:s-1:call_1"]
    env.verify()


def test_durable_mode_a_rejection_from_another_process_reaches_the_model(env: Env) -> None:
    ran, state = env.dir / "ran", str(env.dir / "state.json")
    run_child("_oa_agent.py", "start", env.store, str(env.dir / "audit-start.jsonl"), state, str(ran))
    (pending,) = env.gate.pending()
    assert vote_in_process(env, pending.id, "deny", comment="not this one") == "denied"
    second = run_child("_oa_agent.py", "resume", env.store, str(env.dir / "audit-resume.jsonl"), state, str(ran))
    assert second["outputs"]["call_1"] == "signoff: denied (rule deletes): denied by reviewer `user:carol@example.com`: not this one"
    assert runs(ran) == [("read_file", "/data/y")]
    env.verify()


def test_durable_mode_resolve_before_the_vote_leaves_the_call_pending(env: Env) -> None:
    guard = SignoffGuard(env.gate, mode="durable", thread_id="s-2")
    ops = agent(env, DELETE, guard=guard)

    async def main() -> Any:
        result = await Runner.run(ops, "clean up")
        saved = json.dumps(result.to_state().to_json())
        state = await RunState.from_json(ops, json.loads(saved))
        still = await guard.resolve(state)
        return [i.call_id for i in still]

    assert asyncio.run(main()) == ["call_1"]
    assert len(env.gate.pending()) == 1
    assert len(env.events("approval.requested")) == 1


def test_the_guard_refuses_bad_options(env: Env) -> None:
    with pytest.raises(ValueError, match="mode"):
        SignoffGuard(env.gate, mode="interrupt")
    with pytest.raises(TypeError, match="FunctionTool"):
        SignoffGuard(env.gate).tool(lambda: None)  # type: ignore[arg-type]
    assert isinstance(signoff.AdapterError("x"), signoff.SignoffError)
