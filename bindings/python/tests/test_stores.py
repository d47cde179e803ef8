"""Persistent stores by URL from Python: SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pathlib
import subprocess
import uuid

import pytest

import signoff


def export_action() -> dict:
    return {"actor": "agent:billing-bot", "on_behalf_of": "user:alice@example.com", "args": {"rows": 50_000}}


def restart_flow(policy: signoff.Policy, store: str, audit: str, cli: str) -> None:
    first = signoff.Gate(policy, store=store, audit=audit, approver="queue", stream="agent")
    action_id = f"py-{uuid.uuid4()}"
    pending = first.submit("db.export", id=action_id, **export_action())
    assert isinstance(pending, signoff.Pending)
    del first  # the agent "restarts"
    reviewer = signoff.Gate(policy, store=store, audit=audit, approver="queue", stream="server")
    reviewer.vote(pending.request_id, "user:carol@example.com")
    reviewer.vote(pending.request_id, "user:dan@example.com")
    again = signoff.Gate(policy, store=store, audit=audit, approver="queue", stream="agent")
    permit = again.require("db.export", id=action_id, **export_action())
    assert permit.request_id == pending.request_id
    permit.complete()
    with pytest.raises(signoff.PermitUsed):
        again.require("db.export", id=action_id, **export_action())
    ok = subprocess.run([cli, "audit", "verify", audit], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_sqlite_store_survives_a_restart(policy: signoff.Policy, tmp_path: pathlib.Path, cli: str) -> None:
    db = f"sqlite:{tmp_path / 'signoff.db'}"
    restart_flow(policy, db, db, cli)


def test_a_postgres_store_survives_a_restart(policy: signoff.Policy, cli: str) -> None:
    url = os.environ.get("SIGNOFF_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("SIGNOFF_TEST_DATABASE_URL is not set (scripts/test starts a cluster)")
        pytest.skip("no PostgreSQL: set SIGNOFF_TEST_DATABASE_URL")
    restart_flow(policy, url, url, cli)


def test_an_unknown_store_is_a_clear_error(policy: signoff.Policy) -> None:
    with pytest.raises(ValueError, match="redis://x"):
        signoff.Gate(policy, store="redis://x")
