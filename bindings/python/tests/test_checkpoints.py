"""Checkpoint keys from Python: a key file or variable signs the trail, and
`signoff audit verify --pubkey` accepts it and detects a cut or an edit at
its newest records."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import List, Tuple

import pytest

import signoff


def keygen(cli: str, tmp_path: pathlib.Path) -> Tuple[pathlib.Path, pathlib.Path]:
    key = tmp_path / "checkpoint.key"
    made = subprocess.run([cli, "audit", "keygen", "--out", str(key)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return key, tmp_path / "checkpoint.key.pub"


def verify(cli: str, trail: pathlib.Path, pub: pathlib.Path) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([cli, "audit", "verify", str(trail), "--pubkey", str(pub)], capture_output=True, text=True)


def write(gate: signoff.Gate, n: int) -> None:
    for _ in range(n):
        gate.require("db.query", actor="agent:bot").complete()
    gate.close()


def events(trail: pathlib.Path) -> List[str]:
    return [json.loads(line)["event"] for line in trail.read_text().splitlines()]


def test_a_checkpoint_key_file_signs_the_trail_and_a_cut_or_edit_at_the_end_is_detected(
    policy: signoff.Policy, trail: pathlib.Path, cli: str, tmp_path: pathlib.Path
) -> None:
    key, pub = keygen(cli, tmp_path)
    write(signoff.Gate(policy, audit=str(trail), checkpoint_key_file=key), 3)
    assert events(trail)[-1] == "audit.checkpoint", "close signs the head"
    ok = verify(cli, trail, pub)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 signature(s) verified" in ok.stdout and "warning" not in ok.stdout, ok.stdout

    lines = trail.read_text().splitlines()
    # the newest records cut, the checkpoint with them: only the key can tell
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-2]) + "\n")
    assert subprocess.run([cli, "audit", "verify", str(cut)], capture_output=True).returncode == 0
    bad = verify(cli, cut, pub)
    assert bad.returncode == 1 and "no checkpoint signed by the given public key" in bad.stdout, bad.stdout

    # the newest record edited
    edited = tmp_path / "edited.jsonl"
    seq = json.loads(lines[-2])["seq"]
    edited.write_text("\n".join(lines[:-2] + [lines[-2].replace("agent:bot", "agent:evil"), lines[-1]]) + "\n")
    bad = verify(cli, edited, pub)
    assert bad.returncode == 1 and f"seq {seq}," in bad.stdout, bad.stdout


def test_a_checkpoint_key_from_an_environment_variable_signs_the_trail(
    policy: signoff.Policy, trail: pathlib.Path, cli: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, pub = keygen(cli, tmp_path)
    monkeypatch.setenv("SIGNOFF_TEST_CHECKPOINT_KEY", key.read_text())
    write(signoff.Gate(policy, audit=str(trail), checkpoint_key_env="SIGNOFF_TEST_CHECKPOINT_KEY"), 2)
    ok = verify(cli, trail, pub)
    assert ok.returncode == 0 and "1 signature(s) verified" in ok.stdout, ok.stdout + ok.stderr


def test_a_trail_written_without_a_key_fails_verify_with_a_key(
    policy: signoff.Policy, trail: pathlib.Path, cli: str, tmp_path: pathlib.Path
) -> None:
    _, pub = keygen(cli, tmp_path)
    write(signoff.Gate(policy, audit=str(trail)), 1)
    bad = verify(cli, trail, pub)
    assert bad.returncode == 1 and "no checkpoint signed by the given public key" in bad.stdout, bad.stdout
    bare = subprocess.run([cli, "audit", "verify", str(trail)], capture_output=True, text=True)
    assert bare.returncode == 0 and "deleting the newest records" in bare.stdout, bare.stdout


def test_a_missing_checkpoint_key_fails_the_gate_instead_of_running_unsigned(
    policy: signoff.Policy, trail: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(signoff.AuditError, match="nope.key"):
        signoff.Gate(policy, audit=str(trail), checkpoint_key_file=missing)
    monkeypatch.delenv("SIGNOFF_TEST_UNSET_KEY", raising=False)
    with pytest.raises(signoff.AuditError, match="`SIGNOFF_TEST_UNSET_KEY` is not set"):
        signoff.Gate(policy, audit=str(trail), checkpoint_key_env="SIGNOFF_TEST_UNSET_KEY")
    with pytest.raises(ValueError, match="not both"):
        signoff.Gate(policy, audit=str(trail), checkpoint_key_file=missing, checkpoint_key_env="K")
    with pytest.raises(ValueError, match="needs an audit trail"):
        signoff.Gate(policy, checkpoint_key_env="K")
    assert not trail.exists() or trail.read_text() == ""
