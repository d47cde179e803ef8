"""signoff.langchain through real LangChain v1 agent runs with a fake model."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any, Dict

import pytest
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver

import signoff
from _lc_agent import model, tool_messages, tools
from _tools import runs
from conftest import Env, Reviewer, action_ids, run_child, settles_to_no_pending, vote_in_process
from signoff.langchain import SignoffMiddleware, resume_command

DELETE = ("delete_file", {"path": "/data/x"}, "call_1")
READ = ("read_file", {"path": "/data/y"}, "call_2")


def agent(env: Env, *calls: Any, **kw: Any) -> Any:
    checkpointer = kw.pop("checkpointer", None)
    return create_agent(model(*calls), tools(env.dir / "ran"), middleware=[SignoffMiddleware(env.gate, **kw)], checkpointer=checkpointer)


def run(env: Env, *calls: Any, **kw: Any) -> Dict[str, Any]:
    return tool_messages(agent(env, *calls, **kw).invoke({"messages": [("user", "clean up")]})["messages"])


def test_an_allowed_call_runs_with_the_models_args(env: Env) -> None:
    seen = run(env, READ)
    assert runs(env.dir / "ran") == [("read_file", "/data/y")]
    assert seen == {"call_2": ("success", "contents of /data/y")}
    completed = env.events("action.completed")
    assert [(r["action_id"], r["outcome"]) for r in completed] == [("langchain:call_2", "success")]


def test_a_denied_call_never_runs_and_the_model_reads_the_reason(env: Env) -> None:
    seen = run(env, ("drop_table", {"name": "users"}, "call_9"))
    assert runs(env.dir / "ran") == []
    assert seen == {"call_9": ("error", "signoff: denied (rule no-drop): tables are never dropped by agents")}


def test_on_deny_raise_raises_the_signoff_error(env: Env) -> None:
    with pytest.raises(signoff.Denied) as err:
        run(env, ("drop_table", {"name": "users"}, "call_9"), on_deny="raise")
    assert err.value.rule == "no-drop"
    assert runs(env.dir / "ran") == []


def test_an_approve_call_waits_for_a_vote_from_another_thread_then_runs(env: Env) -> None:
    with Reviewer(env.gate) as reviewer:
        seen = run(env, DELETE)
    assert runs(env.dir / "ran") == [("delete_file", "/data/x")]
    assert seen == {"call_1": ("success", "deleted /data/x")}
    assert reviewer.voted_on is not None
    assert reviewer.voted_on.action_id == "langchain:call_1"
    assert reviewer.voted_on.justification == "I will clean up", "the model's text is the justification"
    assert reviewer.voted_on.context["framework"] == "langchain"


def test_the_async_hook_waits_without_blocking_the_loop(env: Env) -> None:
    graph = agent(env, DELETE, READ)

    async def main() -> Dict[str, Any]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticker = asyncio.ensure_future(tick())
        with Reviewer(env.gate, ready=lambda: ticks > 20):
            out = await graph.ainvoke({"messages": [("user", "clean up")]})
        ticker.cancel()
        return tool_messages(out["messages"])

    seen = asyncio.run(main())
    assert seen == {"call_1": ("success", "deleted /data/x"), "call_2": ("success", "contents of /data/y")}
    assert sorted(runs(env.dir / "ran")) == [("delete_file", "/data/x"), ("read_file", "/data/y")]


def test_a_reviewer_edit_changes_the_args_the_tool_receives(env: Env) -> None:
    with Reviewer(env.gate, args={"path": "/data/x.tmp"}):
        seen = run(env, DELETE)
    assert runs(env.dir / "ran") == [("delete_file", "/data/x.tmp")]
    assert seen["call_1"] == ("success", "deleted /data/x.tmp")


def test_a_reviewer_denial_reaches_the_model(env: Env) -> None:
    with Reviewer(env.gate, "deny", comment="keep it"):
        seen = run(env, DELETE)
    assert runs(env.dir / "ran") == []
    assert seen["call_1"] == ("error", "signoff: denied (rule deletes): denied by reviewer `user:carol@example.com`: keep it")


def test_the_policy_timeout_and_the_adapters_deadline_deny(env: Env) -> None:
    seen = run(env, ("restart", {"service": "db"}, "call_3"))
    assert seen["call_3"] == ("error", "signoff: denied (rule quick): no decision before the timeout")
    seen = run(env, DELETE, deadline=0.3)
    assert seen["call_1"] == ("error", "signoff: denied: no decision within the adapter's deadline of 0.3 s")
    assert runs(env.dir / "ran") == []
    # the request the adapter gave up on is cancelled, not left for a reviewer
    assert settles_to_no_pending(env.gate)


def test_the_store_going_down_denies(env: Env) -> None:
    env.break_store()
    seen = run(env, READ, DELETE)
    assert runs(env.dir / "ran") == []
    for status, text in seen.values():
        assert status == "error"
        assert text.startswith("signoff: denied: approval store") and "not a database" in text


def test_action_names_map_through_a_prefix_or_a_function(env: Env) -> None:
    seen = run(env, ("read_file", {"path": "/a"}, "c1"), action_name=lambda tool: "drop_table")
    assert seen["c1"][0] == "error" and "rule no-drop" in seen["c1"][1]
    seen = run(env, ("read_file", {"path": "/a"}, "c2"), prefix="fs.")
    assert seen["c2"] == ("error", "signoff: denied: no rule matched; the policy default is deny")
    assert [r["action"] for r in env.events("policy.decided")] == ["drop_table", "fs.read_file"]


def test_the_trail_verifies_and_names_each_tool_call_id(env: Env) -> None:
    with Reviewer(env.gate):
        run(env, DELETE, READ, ("drop_table", {"name": "t"}, "call_3"))
    env.verify()
    ids = action_ids(env.records())
    assert sorted(ids) == ["langchain:call_1", "langchain:call_2", "langchain:call_3"]


def test_parallel_calls_one_allowed_one_pending(env: Env) -> None:
    ran = env.dir / "ran"
    # the reviewer votes only once the allowed call has run: it did not wait
    with Reviewer(env.gate, ready=lambda: ("read_file", "/data/y") in runs(ran)):
        seen = run(env, DELETE, READ)
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x")]
    assert seen == {"call_1": ("success", "deleted /data/x"), "call_2": ("success", "contents of /data/y")}


def test_interrupt_mode_pauses_and_resumes_in_process_without_a_second_request(env: Env) -> None:
    graph = agent(env, DELETE, READ, mode="interrupt", checkpointer=InMemorySaver())
    cfg: Dict[str, Any] = {"configurable": {"thread_id": "t-1"}}
    out = graph.invoke({"messages": [("user", "clean up")]}, cfg)
    (paused,) = out["__interrupt__"]
    info = paused.value["signoff"]
    assert info["action_id"] == "langchain:t-1:call_1" and info["tool_call_id"] == "call_1"
    assert info["args"] == {"path": "/data/x"} and info["rules"] == ["deletes"]
    assert runs(env.dir / "ran") == [("read_file", "/data/y")]
    # resuming before the vote pauses again, on the same request
    out = graph.invoke(resume_command(out["__interrupt__"]), cfg)
    assert [i.value["signoff"]["request_id"] for i in out["__interrupt__"]] == [info["request_id"]]
    env.gate.vote(info["request_id"], "user:dan@example.com", "approve", args={"path": "/data/x.old"})
    out = graph.invoke(resume_command(out["__interrupt__"]), cfg)
    assert "__interrupt__" not in out
    assert runs(env.dir / "ran") == [("read_file", "/data/y"), ("delete_file", "/data/x.old")]
    assert len(env.events("approval.requested")) == 1


def test_interrupt_mode_resumes_in_a_new_process_after_a_vote_from_another(env: Env) -> None:
    ran, checkpoints = env.dir / "ran", str(env.dir / "checkpoints.db")
    first = run_child("_lc_agent.py", "start", env.store, str(env.dir / "audit-start.jsonl"), checkpoints, "t-7", str(ran))
    (paused,) = first["interrupts"]
    request_id = paused["signoff"]["request_id"]
    assert runs(ran) == [("read_file", "/data/y")], "the allowed call ran; the pending one did not"
    assert vote_in_process(env, request_id, "approve") == "approved"
    second = run_child("_lc_agent.py", "resume", env.store, str(env.dir / "audit-resume.jsonl"), checkpoints, "t-7", str(ran))
    assert second["interrupts"] == []
    assert second["tool_messages"]["call_1"] == ["success", "deleted /data/x"]
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x")], "each tool ran exactly once"
    records = env.records()
    assert [r["action_id"] for r in records if r["event"] == "approval.requested"] == ["langchain:t-7:call_1"]
    assert [r["action_id"] for r in records if r["event"] == "action.completed"].count("langchain:t-7:call_1") == 1
    env.verify()


def test_interrupt_mode_a_rejection_from_another_process_reaches_the_model(env: Env) -> None:
    ran, checkpoints = env.dir / "ran", str(env.dir / "checkpoints.db")
    first = run_child("_lc_agent.py", "start", env.store, str(env.dir / "audit-start.jsonl"), checkpoints, "t-8", str(ran))
    request_id = first["interrupts"][0]["signoff"]["request_id"]
    assert vote_in_process(env, request_id, "deny", comment="not this one") == "denied"
    second = run_child("_lc_agent.py", "resume", env.store, str(env.dir / "audit-resume.jsonl"), checkpoints, "t-8", str(ran))
    assert second["tool_messages"]["call_1"] == [
        "error",
        "signoff: denied (rule deletes): denied by reviewer `user:carol@example.com`: not this one",
    ]
    assert runs(ran) == [("read_file", "/data/y")]
    env.verify()


def test_the_middleware_refuses_bad_options(env: Env) -> None:
    with pytest.raises(ValueError, match="mode"):
        SignoffMiddleware(env.gate, mode="sometimes")
    with pytest.raises(ValueError, match="on_deny"):
        SignoffMiddleware(env.gate, on_deny="ignore")


def test_interrupt_mode_works_under_ainvoke(env: Env) -> None:
    graph = agent(env, DELETE, READ, mode="interrupt", checkpointer=InMemorySaver())
    cfg: Dict[str, Any] = {"configurable": {"thread_id": "t-a"}}

    async def main() -> Dict[str, Any]:
        out = await graph.ainvoke({"messages": [("user", "clean up")]}, cfg)
        (paused,) = out["__interrupt__"]
        env.gate.vote(paused.value["signoff"]["request_id"], "user:carol@example.com", "approve")
        done = await graph.ainvoke(resume_command(out["__interrupt__"]), cfg)
        return tool_messages(done["messages"])

    seen = asyncio.run(main())
    assert seen == {"call_1": ("success", "deleted /data/x"), "call_2": ("success", "contents of /data/y")}
    assert sorted(runs(env.dir / "ran")) == [("delete_file", "/data/x"), ("read_file", "/data/y")]
    assert len(env.events("approval.requested")) == 1
