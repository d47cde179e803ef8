"""Shared pieces of the framework-adapter tests: one policy, a gate on a
SQLite store with a JSON-lines trail, a reviewer in another thread or
process, and the trail's verification by the `signoff` CLI.

These run in the adapters' own venvs (scripts/test builds them), never with
a real model: every agent is driven by the framework's fake model."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import signoff

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]

POLICY = """
[policy]
name = "adapters"
default = "deny"

[groups]
reviewers = ["user:carol@example.com", "user:dan@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["read_file"]

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["drop_table"]
reason = "tables are never dropped by agents"

[[rules]]
id = "deletes"
effect = "approve"
actions = ["delete_file"]
approvers = "reviewers"
timeout = "30s"
allow_edit = true
reason = "deleting files needs a reviewer"

[[rules]]
id = "quick"
effect = "approve"
actions = ["restart"]
approvers = "reviewers"
timeout = "300ms"
reason = "restarts need a reviewer"
"""

ACTOR = "agent:ops-bot"
ON_BEHALF_OF = "user:alice@example.com"


@dataclass
class Env:
    """One test's gate, its store and trail, and what the tools did."""

    dir: pathlib.Path
    store: str
    trail: pathlib.Path
    gate: signoff.Gate
    ran: List[Any] = field(default_factory=list)

    def new_gate(self, **kw: Any) -> signoff.Gate:
        return make_gate(self.store, self.trail, **kw)

    def trails(self) -> List[pathlib.Path]:
        """This process's trail and those of the child processes (one file each)."""
        return sorted(self.dir.glob("audit*.jsonl"))

    def records(self) -> List[Dict[str, Any]]:
        self.gate.close()
        return [json.loads(line) for t in self.trails() for line in t.read_text().splitlines()]

    def events(self, event: str) -> List[Dict[str, Any]]:
        return [r for r in self.records() if r["event"] == event]

    def verify(self) -> None:
        """`signoff audit verify` accepts every trail."""
        self.gate.close()
        for trail in self.trails():
            out = subprocess.run([signoff_cli(), "audit", "verify", str(trail)], capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr

    def break_store(self) -> None:
        """The store goes down: its SQLite files no longer hold a database."""
        for path in self.dir.iterdir():
            if path.name.startswith("signoff.db"):
                with open(path, "r+b") as fh:
                    fh.write(b"not a database" * 4096)


def make_gate(store: str, trail: pathlib.Path, **kw: Any) -> signoff.Gate:
    kw.setdefault("approver", "queue")
    return signoff.Gate(
        signoff.Policy.from_toml(POLICY), actor=ACTOR, on_behalf_of=ON_BEHALF_OF, store=store, audit=str(trail), **kw
    )


@pytest.fixture
def env(tmp_path: pathlib.Path) -> Iterator[Env]:
    store = f"sqlite:{tmp_path / 'signoff.db'}"
    trail = tmp_path / "audit.jsonl"
    e = Env(tmp_path, store, trail, make_gate(store, trail))
    yield e
    e.gate.close()


def signoff_cli() -> str:
    found = os.environ.get("SIGNOFF_BIN") or str(ROOT / "target" / "debug" / "signoff")
    if not os.path.exists(found):
        cargo = shutil.which("cargo")
        assert cargo, "cargo is needed to build the signoff CLI"
        subprocess.run([cargo, "build", "-q", "-p", "signoff-cli"], cwd=ROOT, check=True)
    return found


class Reviewer:
    """Votes on the first pending request of `action` from another thread,
    once `ready()` holds (by default at once)."""

    def __init__(
        self,
        gate: signoff.Gate,
        verdict: str = "approve",
        *,
        action: str = "delete_file",
        args: Optional[Dict[str, Any]] = None,
        comment: Optional[str] = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.gate, self.verdict, self.action, self.args, self.comment, self.ready = gate, verdict, action, args, comment, ready
        self.voted_on: Optional[signoff.ApprovalRequest] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Reviewer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.thread.join(timeout=30)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = [r for r in self.gate.pending() if r.action == self.action]
                if waiting and self.ready():
                    self.voted_on = waiting[0]
                    self.gate.vote(waiting[0].id, "user:carol@example.com", self.verdict, args=self.args, comment=self.comment)
                    return
                time.sleep(0.02)
            raise AssertionError(f"no pending `{self.action}` request to vote on")
        except BaseException as exc:  # reported by __exit__
            self.error = exc


def vote_in_process(env: Env, request_id: str, verdict: str = "approve", **kw: Any) -> str:
    """A reviewer in a separate process votes through a gate on the same store."""
    out = subprocess.run(
        [sys.executable, str(HERE / "_voter.py"), env.store, str(env.dir / "audit-voter.jsonl"), request_id, verdict, json.dumps(kw)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


def run_child(script: str, *args: str) -> Dict[str, Any]:
    """Runs an agent step in a new process; it prints one JSON object last."""
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def action_ids(records: List[Dict[str, Any]], event: str = "policy.decided") -> List[str]:
    return [r["action_id"] for r in records if r["event"] == event]


def settles_to_no_pending(gate: signoff.Gate, within: float = 5.0) -> bool:
    """Whether the gate has no pending request within `within` seconds (a
    request whose waiter gave up is cancelled in the background)."""
    deadline = time.monotonic() + within
    while gate.pending():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
