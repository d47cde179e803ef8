"""The gate from Python: require, require_async, guard, approvers, errors."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import threading
import time
from typing import Any, List, Optional

import pytest

import signoff


class Approving(signoff.Approver):
    """Two data owners approve, optionally editing the args."""

    def __init__(self, edit: Optional[dict] = None) -> None:
        self.seen: List[signoff.ApprovalRequest] = []
        self.edit = edit

    def review(self, request: signoff.ApprovalRequest) -> List[signoff.Vote]:
        self.seen.append(request)
        return [
            signoff.Vote("user:carol@example.com", "approve", args=self.edit, args_digest=request.args_digest),
            signoff.Vote("user:dan@example.com", "approve"),
        ]


def export(rows: int = 50_000) -> dict:
    return {
        "actor": "agent:billing-bot",
        "on_behalf_of": "user:alice@example.com",
        "env": "prod",
        "args": {"rows": rows, "password": "hunter2"},
    }


def events(trail: pathlib.Path) -> List[str]:
    return [json.loads(line)["event"] for line in trail.read_text().splitlines()]


def test_allow_deny_and_approve_through_require(policy: signoff.Policy, trail: pathlib.Path) -> None:
    approver = Approving()
    gate = signoff.Gate(policy, audit=str(trail), approver=approver)
    permit = gate.require("db.query", actor="agent:bot", args={"sql": "select 1"})
    assert permit.approved_by == []
    permit.complete(ok=True)
    with pytest.raises(signoff.Denied) as denied:
        gate.require("sql.exec", actor="agent:bot", args={"sql": "DROP TABLE users"})
    assert denied.value.rule == "no-drop"
    assert denied.value.reason == "destructive DDL is never run by agents"
    assert denied.value.voter is None
    assert denied.value.code == "SIGNOFF_DENIED"
    permit = gate.require("db.export", **export())
    assert sorted(permit.approved_by) == ["user:carol@example.com", "user:dan@example.com"]
    assert permit.args == {"rows": 50_000, "password": "hunter2"}
    permit.complete(ok=True, detail="written")
    # the reviewer never saw the password, nor does the trail hold it
    assert approver.seen[0].args["password"].startswith("redacted:")
    assert "hunter2" not in trail.read_text()
    with pytest.raises(signoff.PermitUsed):
        permit.complete()


def test_a_python_approver_can_deny_with_a_comment(policy: signoff.Policy, trail: pathlib.Path) -> None:
    class Denying(signoff.Approver):
        def review(self, request: signoff.ApprovalRequest) -> signoff.Vote:
            return signoff.Vote("user:carol@example.com", "deny", comment="not today")

    gate = signoff.Gate(policy, audit=str(trail), approver=Denying())
    with pytest.raises(signoff.Denied) as info:
        gate.require("db.export", **export())
    assert info.value.voter == "user:carol@example.com"
    assert info.value.comment == "not today"
    assert info.value.rule == "export"


def test_a_python_approver_editing_args_changes_what_runs(policy: signoff.Policy, trail: pathlib.Path) -> None:
    edited = {"rows": 2000, "password": "hunter2"}
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving(edit=edited))
    permit = gate.require("db.export", **export())
    # carol edited; dan's vote (for the old args) was cast after the edit, so it binds to the new ones
    assert permit.args == edited
    permit.complete()


def test_an_edit_the_policy_denies_is_denied(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving(edit={"rows": 5_000_000}))
    with pytest.raises(signoff.Denied, match="too much data"):
        gate.require("db.export", **export())


def test_self_approval_is_rejected_and_audited(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver="queue")
    pending = gate.submit("db.export", **export())
    assert isinstance(pending, signoff.Pending)
    with pytest.raises(signoff.VoteRejected) as info:
        gate.vote(pending.request_id, "user:alice@example.com", "approve")
    assert info.value.reason == "self_approval"
    assert "cannot vote" in str(info.value)
    assert gate.vote(pending.request_id, "user:carol@example.com") == "pending"
    assert gate.vote(pending.request_id, "user:dan@example.com") == "approved"
    permit = gate.resume(pending.request_id)
    permit.complete()
    assert "approval.vote_rejected" in events(trail)


def test_nobody_answering_raises_approval_timeout(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver="queue")
    with pytest.raises(signoff.ApprovalTimeout) as info:
        gate.require("ops.restart", actor="agent:ops-bot")
    assert info.value.rule == "quick"
    assert info.value.code == "SIGNOFF_TIMEOUT"


def test_other_threads_run_while_require_waits(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver="queue")
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        with pytest.raises(signoff.ApprovalTimeout):
            gate.require("ops.restart", actor="agent:ops-bot")
    finally:
        stop.set()
        counter.join()
    # 300 ms of waiting with the GIL released: the counter thread ran throughout
    assert ticks > 50, ticks


def test_require_async_and_a_hundred_concurrent_requires(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving())

    async def main() -> None:
        permits = await asyncio.gather(
            *[gate.require_async("db.query", actor="agent:bot", args={"i": i}) for i in range(100)]
        )
        assert len({p.action_id for p in permits}) == 100
        await asyncio.gather(*[p.complete_async(ok=True) for p in permits])
        approved = await gate.require_async("db.export", **export())
        assert len(approved.approved_by) == 2
        await approved.complete_async()
        with pytest.raises(signoff.Denied):
            await gate.require_async("sql.exec", actor="agent:bot", args={"sql": "drop table x"})

    asyncio.run(main())
    assert events(trail).count("action.completed") == 101


def test_the_event_loop_keeps_running_while_an_approval_waits(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver="queue")

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.ensure_future(tick())
        with pytest.raises(signoff.ApprovalTimeout):
            await gate.require_async("ops.restart", actor="agent:ops-bot")
        ticker.cancel()
        return ticks

    assert asyncio.run(main()) > 50


def test_guard_requires_runs_with_approved_args_and_completes(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving(edit={"table": "customers", "rows": 1500}))
    calls: List[Any] = []

    @gate.guard("db.export", actor="agent:billing-bot", resource=lambda table, **kw: f"postgres://prod/{table}")
    def export_table(table: str, rows: int) -> int:
        calls.append((table, rows))
        return rows

    assert export_table("customers", 50_000) == 1500, "the reviewer's edit is what runs"
    assert calls == [("customers", 1500)]

    @gate.guard("db.query", actor="agent:bot")
    def failing(sql: str) -> None:
        raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError):
        failing("select 1")
    gate.close()  # completions are queued; close writes them (DESIGN §15)
    completed = [json.loads(l) for l in trail.read_text().splitlines() if '"action.completed"' in l]
    assert completed[-1]["outcome"] == "failure"
    assert "connection reset" in completed[-1]["error"]

    @gate.guard("db.query", actor="agent:bot")
    async def async_query(sql: str) -> str:
        await asyncio.sleep(0)
        return sql.upper()

    assert asyncio.run(async_query("select 1")) == "SELECT 1"

    @gate.guard("sql.exec", actor="agent:bot")
    def drop(sql: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(signoff.Denied):
        drop("DROP TABLE users")


def test_an_async_python_approver_works(policy: signoff.Policy, trail: pathlib.Path) -> None:
    class AsyncApprover(signoff.Approver):
        async def review(self, request: signoff.ApprovalRequest) -> List[signoff.Vote]:  # type: ignore[override]
            await asyncio.sleep(0.01)
            return [signoff.Vote("user:carol@example.com"), signoff.Vote("user:dan@example.com")]

    gate = signoff.Gate(policy, audit=str(trail), approver=AsyncApprover())
    gate.require("db.export", **export()).complete()


def test_an_exception_in_a_python_approver_fails_closed_and_is_reported(policy: signoff.Policy, trail: pathlib.Path) -> None:
    class Broken(signoff.Approver):
        def review(self, request: signoff.ApprovalRequest) -> None:
            raise KeyError("slack_token")

    gate = signoff.Gate(policy, audit=str(trail), approver=Broken())
    with pytest.raises(signoff.ApproverError) as info:
        gate.require("db.export", **export())
    assert "KeyError" in str(info.value) and "slack_token" in str(info.value)
    assert gate.request(info.value.request_id).status == "cancelled"


def test_an_approver_that_votes_later_through_gate_vote(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate: signoff.Gate

    class Later(signoff.Approver):
        def review(self, request: signoff.ApprovalRequest) -> None:
            def vote() -> None:
                time.sleep(0.05)
                gate.vote(request.id, "user:carol@example.com")
                gate.vote(request.id, "user:dan@example.com")

            threading.Thread(target=vote).start()

    gate = signoff.Gate(policy, audit=str(trail), approver=Later())
    gate.require("db.export", **export()).complete()


def test_a_python_audit_sink_receives_chained_lines_and_failures_fail_closed(policy: signoff.Policy, tmp_path: pathlib.Path, cli: str) -> None:
    class FileSink(signoff.AuditSink):
        def __init__(self) -> None:
            self.lines: List[str] = []

        def append(self, lines: List[str]) -> None:
            self.lines.extend(lines)

    sink = FileSink()
    gate = signoff.Gate(policy, audit=sink)
    gate.require("db.query", actor="agent:bot").complete()
    gate.close()  # a completion is queued; close writes it (DESIGN §15)
    assert [json.loads(l)["event"] for l in sink.lines] == ["policy.decided", "action.completed"]
    path = tmp_path / "from-sink.jsonl"
    path.write_text("".join(l + "\n" for l in sink.lines))
    assert subprocess.run([cli, "audit", "verify", str(path)], capture_output=True).returncode == 0

    class FullDisk(signoff.AuditSink):
        def append(self, lines: List[str]) -> None:
            raise OSError(28, "No space left on device")

    gate = signoff.Gate(policy, audit=FullDisk())
    with pytest.raises(signoff.AuditError, match="No space left"):
        gate.require("db.query", actor="agent:bot")


def test_bad_inputs_raise_the_right_exception_with_a_clear_message(policy: signoff.Policy, trail: pathlib.Path) -> None:
    gate = signoff.Gate(policy, audit=str(trail))
    with pytest.raises(TypeError, match=r"`args.when` is a datetime"):
        import datetime

        gate.require("db.query", actor="agent:bot", args={"when": datetime.datetime.now()})
    with pytest.raises(TypeError, match=r"`args.items\[1\]` is a set"):
        gate.require("db.query", actor="agent:bot", args={"items": [1, {2}]})
    with pytest.raises(TypeError, match=r"key 1 in `args.m` is a int"):
        gate.require("db.query", actor="agent:bot", args={"m": {1: "x"}})
    with pytest.raises(ValueError, match=r"`args.x` is NaN"):
        gate.require("db.query", actor="agent:bot", args={"x": float("nan")})
    with pytest.raises(TypeError, match=r"does not fit in 64 bits"):
        gate.require("db.query", actor="agent:bot", args={"big": 2**80})
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        gate.require("db.query", actor="agent:bot", user="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"`args` must be a dict"):
        gate.require("db.query", actor="agent:bot", args=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(signoff.InvalidAction, match="unknown kind"):
        gate.require("db.query", actor="robot:x")
    deep: Any = 1
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nests deeper"):
        gate.require("db.query", actor="agent:bot", args={"deep": deep})
    with pytest.raises(signoff.NoApprover):
        gate.require("db.export", **export())
    with pytest.raises(ValueError, match="durability"):
        signoff.Gate(policy, durability="sometimes")  # type: ignore[arg-type]
    # JSON values map exactly, both ways
    values = {"n": None, "t": True, "f": False, "i": -7, "u": 2**63, "x": 1.5, "s": "é✓", "l": [1, [2]], "d": {"k": {}}}
    permit = gate.require("db.query", actor="agent:bot", args=values)
    assert permit.args == values
    assert type(permit.args["t"]) is bool and type(permit.args["i"]) is int
    permit.complete()


def test_the_audit_file_written_from_python_verifies(policy: signoff.Policy, trail: pathlib.Path, cli: str) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving())
    with gate.require("db.query", actor="agent:bot") as permit:
        assert permit.name == "db.query"
    gate.require("db.export", **export()).complete()
    with pytest.raises(signoff.Denied):
        gate.require("sql.exec", actor="agent:bot", args={"sql": "drop table t"})
    gate.close()
    ok = subprocess.run([cli, "audit", "verify", str(trail)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = trail.read_text().splitlines()
    target = next(i for i, l in enumerate(lines) if i > 0 and "agent:bot" in l)
    seq = json.loads(lines[target])["seq"]
    lines[target] = lines[target].replace("agent:bot", "agent:evil")
    trail.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([cli, "audit", "verify", str(trail)], capture_output=True, text=True)
    assert bad.returncode == 1 and f"seq {seq}," in bad.stdout, bad.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_the_gate_works_in_a_forked_child(policy: signoff.Policy, trail: pathlib.Path, cli: str) -> None:
    gate = signoff.Gate(policy, audit=str(trail), approver=Approving())
    gate.require("db.query", actor="agent:bot").complete()
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn/celery worker
        code = 1
        try:
            gate.require("db.query", actor="agent:child").complete()
            gate.require("db.export", **export()).complete()
            gate.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    gate.require("db.query", actor="agent:bot").complete()
    gate.close()
    actors = [json.loads(l).get("actor") for l in trail.read_text().splitlines()]
    assert "agent:child" in actors
    ok = subprocess.run([cli, "audit", "verify", str(trail)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 stream(s)" in ok.stdout
