"""A custom approver: reviewers decide in your own code (a chat bot, a queue).

`review` may be sync or async, may return votes at once, or vote later
through `gate.vote`. An exception here fails the request closed.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import List

import signoff

ROOT = pathlib.Path(__file__).resolve().parents[2]


class OnCallApprover(signoff.Approver):
    """Approves small exports on behalf of two on-call data owners."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows

    async def review(self, request: signoff.ApprovalRequest) -> List[signoff.Vote]:
        await asyncio.sleep(0)  # e.g. post to chat and await the answers
        rows = int(request.args.get("rows", 0))
        if rows > self.max_rows:
            return [signoff.Vote("user:carol@example.com", "deny", comment=f"{rows} rows is too many")]
        return [
            signoff.Vote("user:carol@example.com", "approve", args_digest=request.args_digest),
            signoff.Vote("user:dan@example.com", "approve", args_digest=request.args_digest),
        ]


async def main() -> None:
    policy = signoff.Policy.from_file(ROOT / "examples" / "policies" / "prod-agents.toml")
    gate = signoff.Gate(policy, approver=OnCallApprover(max_rows=100_000))

    def export(rows: int) -> "asyncio.Future[signoff.Permit]":
        return asyncio.ensure_future(
            gate.require_async(
                "db.export",
                actor="agent:billing-bot",
                on_behalf_of="user:alice@example.com",
                resource="postgres://prod/customers",
                env="prod",
                args={"rows": rows},
            )
        )

    permit = await export(50_000)
    print("approved by", permit.approved_by)
    await permit.complete_async(ok=True)
    try:
        await export(5_000_000)
    except signoff.Denied as denied:
        print(f"denied by {denied.voter}: {denied.comment}")


if __name__ == "__main__":
    asyncio.run(main())
