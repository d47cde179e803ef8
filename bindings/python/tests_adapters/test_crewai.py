"""signoff.crewai through real CrewAI crews with a fake LLM."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from crewai.hooks import get_after_tool_call_hooks, get_before_tool_call_hooks

from _crewai_agent import kickoff
from _tools import runs
from conftest import Env, Reviewer, action_ids, settles_to_no_pending
from signoff.crewai import SignoffHooks, install

DELETE = ("delete_file", {"path": "/data/x"})
READ = ("read_file", {"path": "/data/y"})


@pytest.fixture
def hooks(env: Env) -> Iterator[SignoffHooks]:
    with install(env.gate, deadline=20) as installed:
        yield installed


def crew(env: Env, *turns: Any, native: bool = True) -> Any:
    return kickoff(env.dir / "ran", *turns, native=native).seen


def test_an_allowed_call_runs_with_the_models_args_and_completes(env: Env, hooks: SignoffHooks) -> None:
    seen = crew(env, [READ, ("read_file", {"path": "/boom"})])
    assert sorted(seen) == ["Error executing tool: disk on fire", "contents of /data/y"]
    assert sorted(runs(env.dir / "ran")) == [("read_file", "/boom"), ("read_file", "/data/y")]
    assert sorted(r["outcome"] for r in env.events("action.completed")) == ["failure", "success"]


@pytest.mark.parametrize("native", [True, False], ids=["native-tool-calls", "react-text"])
def test_a_denied_call_never_runs_and_the_model_reads_the_reason(env: Env, hooks: SignoffHooks, native: bool) -> None:
    seen = crew(env, [("drop_table", {"name": "users"})], native=native)
    assert seen == ["signoff: denied (rule no-drop): tables are never dropped by agents"]
    assert runs(env.dir / "ran") == []


def test_an_approve_call_waits_for_a_vote_from_another_thread_then_runs(env: Env, hooks: SignoffHooks) -> None:
    with Reviewer(env.gate) as reviewer:
        assert crew(env, [DELETE]) == ["deleted /data/x"]
    assert runs(env.dir / "ran") == [("delete_file", "/data/x")]
    assert reviewer.voted_on is not None
    assert reviewer.voted_on.context["framework"] == "crewai"
    assert reviewer.voted_on.context["agent_role"] == "ops"


def test_a_reviewer_edit_changes_the_args_the_tool_receives(env: Env, hooks: SignoffHooks) -> None:
    with Reviewer(env.gate, args={"path": "/data/x.tmp"}):
        assert crew(env, [DELETE]) == ["deleted /data/x.tmp"]
    assert runs(env.dir / "ran") == [("delete_file", "/data/x.tmp")]


def test_the_policy_timeout_and_the_adapters_deadline_deny(env: Env) -> None:
    with install(env.gate):
        assert crew(env, [("restart", {"service": "db"})]) == ["signoff: denied (rule quick): no decision before the timeout"]
    with install(env.gate, deadline=0.3):
        assert crew(env, [DELETE]) == ["signoff: denied: no decision within the adapter's deadline of 0.3 s"]
    assert runs(env.dir / "ran") == []
    assert settles_to_no_pending(env.gate)


def test_a_retry_of_the_same_call_finds_the_same_request(env: Env) -> None:
    with install(env.gate, deadline=0.3):
        seen = crew(env, [DELETE], [DELETE])
    assert seen[0] == "signoff: denied: no decision within the adapter's deadline of 0.3 s"
    assert seen[1].startswith("signoff: denied: approval request") and "cancelled" in seen[1]
    assert len(env.events("approval.requested")) == 1, "the retry filed no second request"


def test_the_same_call_after_it_ran_is_a_new_action(env: Env, hooks: SignoffHooks) -> None:
    assert crew(env, [READ], [READ]) == ["contents of /data/y", "contents of /data/y"]
    ids = action_ids(env.records())
    assert len(ids) == 2 and ids[1] == ids[0] + "#2"


def test_the_store_going_down_denies(env: Env, hooks: SignoffHooks) -> None:
    env.break_store()
    seen = crew(env, [READ, DELETE])
    assert runs(env.dir / "ran") == []
    assert len(seen) == 2 and all(t.startswith("signoff: denied: approval store") for t in seen)


def test_an_error_inside_the_adapter_blocks_the_call(env: Env) -> None:
    def broken(tool: str) -> str:
        raise KeyError(tool)

    with install(env.gate, action_name=broken):
        seen = crew(env, [READ])
    assert runs(env.dir / "ran") == [], "CrewAI would run the tool had the hook raised"
    assert seen == ["signoff: denied: internal error (KeyError: 'read_file')"]


def test_the_trail_verifies_and_names_each_call(env: Env, hooks: SignoffHooks) -> None:
    with Reviewer(env.gate):
        crew(env, [DELETE, READ, ("drop_table", {"name": "t"})])
    env.verify()
    ids = action_ids(env.records())
    assert len(ids) == 3
    tools = sorted(i.split(":")[2] for i in ids)
    assert tools == ["delete_file", "drop_table", "read_file"]
    assert len({i.split(":")[1] for i in ids}) == 1, "one task id namespaces them"


def test_parallel_calls_one_allowed_one_pending(env: Env, hooks: SignoffHooks) -> None:
    ran = env.dir / "ran"
    with Reviewer(env.gate, ready=lambda: ("read_file", "/data/y") in runs(ran)):
        assert sorted(crew(env, [READ, DELETE])) == ["contents of /data/y", "deleted /data/x"]
    assert runs(ran) == [("read_file", "/data/y"), ("delete_file", "/data/x")]


def test_hooks_uninstall_and_raise_mode_is_refused(env: Env) -> None:
    with install(env.gate) as installed:
        assert installed.before_tool_call in get_before_tool_call_hooks()
    assert installed.before_tool_call not in get_before_tool_call_hooks()
    assert installed.after_tool_call not in get_after_tool_call_hooks()
    with pytest.raises(ValueError, match="swallows exceptions"):
        SignoffHooks(env.gate, on_deny="raise")
