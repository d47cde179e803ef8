"""Shared fixtures: the repository root, a policy with short timeouts, the CLI."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import Iterator

import pytest

import signoff

ROOT = pathlib.Path(__file__).resolve().parents[3]

POLICY = r"""
[policy]
name = "python-tests"
default = "deny"

[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.matches("(?i)drop\\s+table")'
reason = "destructive DDL is never run by agents"

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
when = "args.rows > 1000"
approvers = "data-owners"
min_approvals = 2
timeout = "20s"
allow_edit = true
redact = ["args.password"]
reason = "bulk export of production data"

[[rules]]
id = "export-huge"
effect = "deny"
actions = ["db.export"]
when = "args.rows > 1000000"
reason = "too much data"

[[rules]]
id = "small-export"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"

[[rules]]
id = "quick"
effect = "approve"
actions = ["ops.restart"]
approvers = "data-owners"
timeout = "300ms"
"""


@pytest.fixture
def policy() -> signoff.Policy:
    return signoff.Policy.from_toml(POLICY)


@pytest.fixture
def trail(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "audit.jsonl"


def signoff_cli() -> str:
    """The `signoff` binary: $SIGNOFF_BIN, or the workspace's debug build."""
    found = os.environ.get("SIGNOFF_BIN") or str(ROOT / "target" / "debug" / "signoff")
    if not os.path.exists(found):
        cargo = shutil.which("cargo")
        assert cargo, "cargo is needed to build the signoff CLI"
        subprocess.run([cargo, "build", "-q", "-p", "signoff-cli"], cwd=ROOT, check=True)
    return found


@pytest.fixture
def cli() -> Iterator[str]:
    yield signoff_cli()
