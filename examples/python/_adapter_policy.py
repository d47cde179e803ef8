"""The policy and reviewer the framework-adapter examples share (not an example itself)."""

from __future__ import annotations

from typing import List

import signoff

POLICY = """
[policy]
name = "ops-agent"
default = "deny"

[groups]
oncall = ["user:carol@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["read_file"]

[[rules]]
id = "deletes"
effect = "approve"
actions = ["delete_file"]
approvers = "oncall"
timeout = "5m"
allow_edit = true
reason = "deleting files needs the on-call engineer"

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["drop_table"]
reason = "tables are never dropped by agents"
"""


class OnCall(signoff.Approver):
    """Stands in for Slack or the approval page: carol approves deletes,
    moved to the trash folder instead."""

    def review(self, request: signoff.ApprovalRequest) -> List[signoff.Vote]:
        path = str(request.args["path"])
        return [signoff.Vote("user:carol@example.com", "approve", args={"path": path.replace("/data/", "/trash/")})]


def gate() -> signoff.Gate:
    """The agent's gate: who it is, whom it acts for, and where approvals come from."""
    return signoff.Gate(
        signoff.Policy.from_toml(POLICY),
        actor="agent:ops-bot",
        on_behalf_of="user:alice@example.com",
        env="prod",
        approver=OnCall(),
    )
