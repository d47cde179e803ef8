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

POLICY = (ROOT / "tests" / "fixtures" / "bindings-gate.toml").read_text()


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
