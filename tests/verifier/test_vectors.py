"""The test vectors of docs/audit-trail.md section 15, checked from the
document's rules with the independent verifier's pieces and plain blake3 and
cryptography calls (main.rs checks that the core reproduces them)."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, List

import blake3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import verify_trail as vt
from conftest import ROOT, agree

DOC = (ROOT / "docs" / "audit-trail.md").read_text()


def block(tag: str) -> List[str]:
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("```") and line.endswith(tag))
    body: List[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            return body
        body.append(line)
    raise AssertionError(f"block {tag} is not closed")


def key_line(name: str) -> str:
    return next(line[len(name) :].strip() for line in block("vector-keys") if line.startswith(name))


def records() -> List[Dict[str, Any]]:
    return [json.loads(line) for line in block("vector-trail")]


def test_the_vector_trail_verifies_with_both_verifiers_and_is_canonical(tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "vector.jsonl"
    trail.write_text("".join(line + "\n" for line in block("vector-trail")))
    pub = key_line("public key:")
    agree(str(trail), pub, expect=(0, None, None))
    assert vt.main([str(trail), "--pubkey", pub, "--strict", "--json"]) == 0


def test_the_vector_hashes_follow_the_byte_rule() -> None:
    prev = vt.GENESIS
    for line, r in zip(block("vector-trail"), records()):
        assert r["prev"] == prev
        without = line.replace(f',"hash":"{r["hash"]}"', "")
        assert blake3.blake3((prev + without).encode()).hexdigest() == r["hash"]
        prev = r["hash"]


def test_the_checkpoint_signature_is_the_seeds_signature_of_the_documented_message() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_line("checkpoint seed:")))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public.hex() == key_line("public key:")
    before, checkpoint = records()[1], records()[2]
    message = b"signoff-checkpoint\nvector\n2\n" + before["hash"].encode()
    assert vt.checkpoint_message(checkpoint["stream"], checkpoint["seq"] - 1, checkpoint["prev"]) == message
    # Ed25519 is deterministic: the same seed signs the same message alike
    assert key.sign(message).hex() == checkpoint["signature"]


def test_redaction_args_digest_and_policy_digest_follow_section_10() -> None:
    decided = records()[0]
    secret = key_line("redaction secret:").encode()
    key = blake3.blake3(secret, derive_key_context="signoff redaction key v1").digest()
    key_id = "k" + blake3.blake3(secret, derive_key_context="signoff redaction key id v1").hexdigest()[:12]
    mac = blake3.blake3(vt.canonical("hunter2").encode(), key=key).hexdigest()
    assert decided["args"]["password"] == f"redacted:{key_id}:{mac}"
    assert f"`redacted:{key_id}:{mac}`" in DOC
    assert decided["args_digest"] == "blake3:" + blake3.blake3(vt.canonical(decided["args"]).encode()).hexdigest()
    normalized = DOC.split("has the normalized form `")[1].split("`")[0]
    assert decided["policy_digest"] == "blake3:" + blake3.blake3(normalized.encode()).hexdigest()
    assert vt.canonical(json.loads(normalized)) == normalized


def read_json_text(text: str) -> Any:
    """JSON text read as section 5 says the gate reads it: integers within
    the two ranges stay integers, others (and `-0`) become doubles."""

    def integer(t: str) -> Any:
        n = int(t)
        return float(t) if t == "-0" or not -(2**63) <= n <= 2**64 - 1 else n

    return json.loads(text, parse_int=integer)


def test_numbers_are_written_as_the_table_says() -> None:
    rows = block("vector-numbers")
    assert len(rows) > 10
    for row in rows:
        given, canonical = row.split()
        assert vt.canonical(read_json_text(given)) == canonical, given


def test_a_gate_redacts_as_section_10_2_says(tmp_path: pathlib.Path) -> None:
    import signoff

    secret = key_line("redaction secret:").encode()
    (tmp_path / "redaction.key").write_bytes(b"  " + secret + b"\n")  # surrounding whitespace is trimmed
    policy = signoff.Policy.from_toml('[policy]\ndefault = "allow"\nredact = ["args.password", "args.list[1]", "context.t.*"]\n')
    gate = signoff.Gate(policy, audit=str(tmp_path / "t.jsonl"), redact_key_file=str(tmp_path / "redaction.key"))
    args = {"password": "hunter2", "list": [1, 2.5], "db": {"API-Key": {"a": [1]}}, "max_tokens": 5}
    gate.require("x.y", actor="agent:a", args=args, context={"t": {"u": "v", "w": 1}}).complete()
    gate.close()
    decided = json.loads((tmp_path / "t.jsonl").read_bytes().split(b"\n")[0])

    key = blake3.blake3(secret, derive_key_context="signoff redaction key v1").digest()
    key_id = "k" + blake3.blake3(secret, derive_key_context="signoff redaction key id v1").hexdigest()[:12]

    def seal(value: Any) -> str:
        return f"redacted:{key_id}:" + blake3.blake3(vt.canonical(value).encode(), key=key).hexdigest()

    assert decided["args"] == {
        # a secret name, then a path to it: sealed twice
        "password": seal(seal("hunter2")),
        "list": [1, seal(2.5)],
        # a secret name at any depth seals the whole value
        "db": {"API-Key": seal({"a": [1]})},
        # `max_tokens` ends in "tokens", not "token": kept
        "max_tokens": 5,
    }
    assert decided["context"] == {"t": {"u": seal("v"), "w": seal(1)}}
    assert decided["args_digest"] == "blake3:" + blake3.blake3(vt.canonical(decided["args"]).encode()).hexdigest()
