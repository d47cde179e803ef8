"""signoff.pydantic_ai through real Pydantic AI runs with a FunctionModel."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Tuple

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults

import signoff
from _pa_agent import Seen, model, tools
from _tools import runs
from conftest import Env, Reviewer, action_ids, settles_to_no_pending, vote_in_process
from signoff.pydantic_ai import SignoffCapability

DELETE = ("delete_file", {"path": "/data/x"}, "call_1")
READ = ("read_file", {"path": "/data/y"}, "call_2")


def agent(env: Env, *calls: Any, seen: Seen, cap: Any = None, **kw: Any) -> "Agent[None, Any]":
    cap = cap or SignoffCapability(env.gate, **kw)
    output: Any = [str, DeferredToolRequests] if cap.mode == "durable" else str
    return Agent(model(*calls, seen=seen), tools=tools(env.dir / "ran"), capabilities=[cap], output_type=output)


def run(env: Env, *calls: Any, **kw: Any) -> Dict[str, Tuple[str, str]]:
    seen = Seen()
    agent(env, *calls, seen=seen, **kw).run_sync("clean up")
    return seen.returns


def test_an_allowed_call_runs_with_the_models_args_and_completes(env: Env) -> None:
    assert run(env, READ) == {"call_2": ("success", "contents of /data/y")}
    assert runs(env.dir / "ran") == [("read_file", "/data/y")]
    (completed,) = env.events("action.completed")
    assert completed["outcome"] == "success" and completed["action_id"].endswith(":call_2")


def test_a_failing_tool_completes_its_permit_as_a_failure(env: Env) -> None:
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(env, ("read_file", {"path": "/boom"}, "call_5"))
    (completed,) = env.events("action.completed")
    assert completed["outcome"] == "failure" and "disk on fire" in completed["error"]


def test_a_denied_call_never_runs_and_the_model_reads_the_reason(env: Env) -> None:
    assert run(env, ("drop_table", {"name": "users"}, "call_9")) == {
        "call_9": ("denied", "signoff: denied (rule no-drop): tables are never dropped by agents")
    }
    assert runs(env.dir / "ran") == []


def test_on_deny_raise_raises_the_signoff_error(env: Env) -> None:
    with pytest.raises(signoff.Denied) as err:
        run(env, ("drop_table", {"name": "users"}, "call_9"), on_deny="raise")
    assert err.value.rule == "no-drop"
    assert runs(env.dir / "ran") == []


def test_an_approve_call_waits_for_a_vote_from_another_thread_then_runs(env: Env) -> None:
    with Reviewer(env.gate) as reviewer:
        assert run(env, DELETE) == {"call_1": ("success", "deleted /data/x")}
    assert runs(env.dir / "ran") == [("delete_file", "/data/x")]
    assert reviewer.voted_on is not None
    assert reviewer.voted_on.justification == "I will clean up"
    assert reviewer.voted_on.context["framework"] == "pydantic-ai"
    assert reviewer.voted_on.action_id == f"pydantic-ai:{reviewer.voted_on.context['thread_id']}:call_1"


def test_a_reviewer_edit_changes_the_args_the_tool_receives(env: Env) -> None:
    with Reviewer(env.gate, args={"path": "/data/x.tmp"}):
        assert run(env, DELETE) == {"call_1": ("success", "deleted /data/x.tmp")}
    assert runs(env.dir / "ran") == [("delete_file", "/data/x.tmp")]


def test_the_policy_timeout_the_adapters_deadline_and_the_runs_timeout_deny(env: Env) -> None:
    assert run(env, ("restart", {"service": "db"}, "call_3")) == {
        "call_3": ("denied", "signoff: denied (rule quick): no decision before the timeout")
    }
    assert run(env, DELETE, deadline=0.3) == {
        "call_1": ("denied", "signoff: denied: no decision within the adapter's deadline of 0.3 s")
    }
    assert settles_to_no_pending(env.gate)
    # the run's own timeout is shorter than the adapter's deadline: the wait stops before it
    seen = Seen()
    ops = agent(env, ("delete_file", {"path": "/data/z"}, "call_4"), seen=seen)
    ops.run_sync("clean up", timeout=1.0)
    status, text = seen.returns["call_4"]
    assert status == "denied" and text.startswith("signoff: denied: no decision within the adapter's deadline of 0.")
    assert runs(env.dir / "ran") == []


def test_the_store_going_down_denies(env: Env) -> None:
    env.break_store()
    seen = run(env, READ, DELETE)
    assert runs(env.dir / "ran") == []
    assert set(seen) == {"call_1", "call_2"}
    assert all(s == "denied" and t.startswith("signoff: denied: approval store") for s, t in seen.values())


def test_the_trail_verifies_and_names_each_tool_call_id(env: Env) -> None:
    with Reviewer(env.gate):
        run(env, DELETE, READ, ("drop_table", {"name": "t"}, "call_3"), thread_id="conv-9")
    env.verify()
    assert sorted(action_ids(env.records())) == ["pydantic-ai:conv-9:call_1", "pydantic-ai:conv-9:call_2", "pydantic-ai:conv-9:call_3"]


def test_parallel_calls_one_allowed_one_pending(env: Env) -> None:
    ran = env.dir / "ran"
    with Reviewer(env.gate, ready=lambda: ("read_file", "/data/y") in runs(ran)):
        assert run(env, DELETE, READ) == {"call_1": ("success", "deleted /data/x"), "call_2": ("success", "contents of /data/y")}
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x")]


def test_durable_mode_defers_and_resumes_from_serialized_history_after_a_vote_from_another_process(env: Env) -> None:
    cap = SignoffCapability(env.gate, mode="durable")
    seen = Seen()
    ops = agent(env, DELETE, READ, seen=seen, cap=cap)
    first = ops.run_sync("clean up")
    requests = first.output
    assert isinstance(requests, DeferredToolRequests)
    assert [p.tool_call_id for p in requests.approvals] == ["call_1"]
    assert runs(env.dir / "ran") == [("read_file", "/data/y")]
    history = ModelMessagesTypeAdapter.dump_json(first.all_messages())
    (request_id,) = cap.pending(requests).values()
    assert requests.metadata["call_1"]["signoff"]["request_id"] == request_id
    # resuming before the vote (even with the app's own approval) defers again, on the same request
    again = ops.run_sync(
        message_history=ModelMessagesTypeAdapter.validate_json(history),
        deferred_tool_results=DeferredToolResults(approvals={"call_1": True}),
    )
    assert isinstance(again.output, DeferredToolRequests)
    assert cap.deferred_results(requests).approvals == {}
    assert runs(env.dir / "ran") == [("read_file", "/data/y")]
    assert vote_in_process(env, request_id, "approve", args={"path": "/data/x.old"}) == "approved"
    done = ops.run_sync(message_history=ModelMessagesTypeAdapter.validate_json(history), deferred_tool_results=cap.deferred_results(requests))
    assert done.output == "done"
    assert seen.returns["call_1"] == ("success", "deleted /data/x.old")
    assert runs(env.dir / "ran") == [("read_file", "/data/y"), ("delete_file", "/data/x.old")]
    assert len(env.events("approval.requested")) == 1
    env.verify()


def test_durable_mode_a_rejection_reaches_the_model(env: Env) -> None:
    cap = SignoffCapability(env.gate, mode="durable")
    seen = Seen()
    ops = agent(env, DELETE, seen=seen, cap=cap)
    first = ops.run_sync("clean up")
    assert isinstance(first.output, DeferredToolRequests)
    (request_id,) = cap.pending(first.output).values()
    env.gate.vote(request_id, "user:dan@example.com", "deny", comment="not this one")
    ops.run_sync(message_history=first.all_messages(), deferred_tool_results=cap.deferred_results(first.output))
    assert seen.returns["call_1"] == (
        "denied",
        "signoff: denied (rule deletes): denied by reviewer `user:dan@example.com`: not this one",
    )
    assert runs(env.dir / "ran") == []


def test_the_async_run_works_the_same(env: Env) -> None:
    seen = Seen()
    ops = agent(env, DELETE, READ, seen=seen)
    with Reviewer(env.gate):
        asyncio.run(ops.run("clean up"))
    assert seen.returns == {"call_1": ("success", "deleted /data/x"), "call_2": ("success", "contents of /data/y")}


def test_the_capability_refuses_bad_options(env: Env) -> None:
    with pytest.raises(ValueError, match="mode"):
        SignoffCapability(env.gate, mode="interrupt")
    with pytest.raises(ValueError, match="deadline"):
        SignoffCapability(env.gate, deadline=0)
