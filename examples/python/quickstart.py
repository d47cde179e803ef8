"""Quickstart: gate an agent's tools with the example policy.

Run from the repository root after installing the binding:
    python examples/python/quickstart.py
"""

from __future__ import annotations

import pathlib
import tempfile

import signoff

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main() -> None:
    policy = signoff.Policy.from_file(ROOT / "examples" / "policies" / "prod-agents.toml")
    trail = pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"
    gate = signoff.Gate(policy, audit=signoff.JsonlSink(trail), approver="queue")
    agent, launcher = "agent:billing-bot", "user:alice@example.com"

    # allowed: the permit is completed when the block ends
    with gate.require(
        "db.query", actor=agent, on_behalf_of=launcher, env="prod", args={"sql": "select 1"}
    ) as permit:
        print("running", permit.name)

    # denied by rule `no-drop`
    try:
        gate.require(
            "sql.exec", actor=agent, on_behalf_of=launcher, env="prod", args={"sql": "DROP TABLE users"}
        )
    except signoff.Denied as denied:
        print(f"denied by {denied.rule}: {denied.reason}")

    # needs two data owners: submit, vote (as reviewers would through the server), resume
    pending = gate.submit(
        "db.export",
        resource="postgres://prod/customers",
        args={"rows": 50_000},
        justification="monthly churn report",
        actor=agent,
        on_behalf_of=launcher,
        env="prod",
    )
    assert isinstance(pending, signoff.Pending)
    for reviewer in ["user:carol@example.com", "user:dan@example.com"]:
        gate.vote(pending.request_id, reviewer, "approve", comment="ok")
    permit = gate.resume(pending.request_id)
    print("approved by", ", ".join(permit.approved_by))
    permit.complete(ok=True)

    # a guarded tool: every call is required first
    @gate.guard("db.query", actor="agent:billing-bot", env="prod")
    def query(sql: str) -> int:
        return len(sql)

    print("guarded query returned", query("select count(*) from invoices"))
    gate.close()
    print("trail:", trail)


if __name__ == "__main__":
    main()
