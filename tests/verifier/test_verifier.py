"""docs/verify_trail.py, written from docs/audit-trail.md alone, agrees with
`signoff audit verify` on every trail the writers produce and on every
tamper class of the Rust tests: same verdict, same first bad seq and line,
and on success the same counts, stream heads and unsigned tails."""

from __future__ import annotations

import json
import pathlib
import re
import sqlite3
import subprocess
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional

import blake3
import pytest

import verify_trail as vt
from conftest import (
    ROOT,
    SOURCES,
    Keys,
    Postgres,
    Source,
    agree,
    python_trail,
    run_cli,
    signoff_cli,
    sqlite_read,
)
from tampers import TAMPERS, Ctx, joined, seal

CASES = [
    (name, tamper)
    for name, (kind, signed, streams) in SOURCES.items()
    for tamper, (_, needs) in TAMPERS.items()
    if ("signed" not in needs or signed) and ("bytes" not in needs or kind == "jsonl") and ("streams" not in needs or streams)
]


def pubkey_for(keys: Keys, which: Optional[str]) -> Optional[str]:
    return {None: None, "right": str(keys.public), "other": str(keys.other_public)}[which]


@pytest.mark.parametrize(("source", "tamper"), CASES, ids=[f"{s}:{t}" for s, t in CASES], indirect=["source"])
def test_both_verifiers_agree_on_every_tamper_class(source: Source, tamper: str, keys: Keys, tmp_path: pathlib.Path) -> None:
    make, _ = TAMPERS[tamper]
    case = make(Ctx(source.lines, bytes.fromhex(keys.secret.read_text().strip())))
    target = source.store(case.data)
    for run in case.runs:
        checkpoint = None
        if run.exported is not None:
            cp = tmp_path / f"cp-{uuid.uuid4().hex[:8]}.json"
            cp.write_text(json.dumps(run.exported))
            checkpoint = str(cp)
        agree(target, pubkey_for(keys, run.key), checkpoint, expect=run.expect)


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
def test_every_trail_as_written_verifies_and_is_canonical(source: Source, keys: Keys) -> None:
    # the storage the writers wrote, read in place by both verifiers
    plain = agree(source.target, expect=(0, None, None))
    assert int(plain.summary[0]) == len(source.lines) >= 10  # type: ignore[index]
    if source.signed:
        signed = agree(source.target, str(keys.public), expect=(0, None, None))
        assert int(signed.summary[4]) == sum(b'"audit.checkpoint"' in line for line in source.lines) > 0  # type: ignore[index]
        assert signed.unsigned == {}, "every writer closed its gate, which signs the head"
    # every line is the canonical JSON of its content, every args_digest matches its args
    assert vt.main([source.target, "--strict", "--json"]) == 0
    events = {json.loads(line)["event"] for line in source.lines}
    assert EVENTS.get(source.name, EVENTS[""]) <= events, events
    if source.signed:
        assert vt.CHECKPOINT in events


EVENTS = {
    "": {"policy.decided", "approval.requested", "approval.vote", "approval.vote_rejected", "approval.resolved",
         "action.completed"},
    "python-lifecycle": {"policy.decided", "policy.shadow", "approval.requested", "approval.vote", "grant.created",
                         "approval.resolved", "grant.used", "approval.break_glass", "action.completed"},
}

SPELLED = {
    "python-jsonl": ("1e-7", "0.00001", "1e-6", "1e+21", "5e-324", "-0.0", "18446744073709551615", "\\u0001", "😀"),
    "node-jsonl": ("1e-7", "0.00001", "1e-6", "1e+21", "5e-324", "9007199254740992", "\\u0001", "😀"),
}


@pytest.mark.parametrize("source", list(SPELLED), indirect=True)
def test_the_trails_hold_the_awkward_values_the_canonical_rules_are_about(source: Source) -> None:
    # guards the --strict check above against a writer that stops sending them
    text = b"\n".join(source.lines).decode()
    for spelled in SPELLED[source.name]:
        assert spelled in text, spelled


def test_strict_finds_a_non_canonical_line_and_a_wrong_args_digest_the_chain_cannot(tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "t.jsonl"
    python_trail(str(trail), "strict", 1, None)
    lines = trail.read_bytes().split(b"\n")[:-1]
    i = next(i for i, line in enumerate(lines) if b'"args":' in line)
    r = json.loads(lines[i])
    # the same content with a space after a colon, hashed as written (section 6)
    spaced = vt.canonical({k: v for k, v in r.items() if k != "hash"}).replace('"action":', '"action": ', 1).encode()
    h = blake3.blake3(r["prev"].encode() + spaced).hexdigest()
    at = spaced.index(b',"on_behalf_of"') if b',"on_behalf_of"' in spaced else spaced.index(b',"outcome"')
    line = spaced[:at] + b',"hash":"' + h.encode() + b'"' + spaced[at:]
    assert vt.line_hash(line, r["prev"], h) == h
    spaced_trail = tmp_path / "spaced.jsonl"
    spaced_trail.write_bytes(joined(lines[:i] + [line]))
    agree(str(spaced_trail), expect=(0, None, None))  # neither verifier checks the layout
    assert vt.main([str(spaced_trail), "--strict"]) == 1

    # args edited and the record re-sealed: the chain is consistent from there, args_digest is not
    r["args"]["rows"] = 1
    forged = tmp_path / "digest.jsonl"
    forged.write_bytes(joined(lines[:i] + [seal(r)]))
    agree(str(forged), expect=(0, None, None))
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "verify_trail.py"), str(forged), "--strict", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    verdict = json.loads(out.stdout)
    assert (verdict["seq"], verdict["line"]) == (r["seq"], i + 1) and "args_digest" in verdict["reason"], verdict


def test_a_sqlite_trail_tampered_in_place_is_caught_by_both(tmp_path: pathlib.Path, keys: Keys) -> None:
    db = tmp_path / "in-place.db"
    target = f"sqlite:{db}"
    python_trail(target, "agent-1", 2, keys.secret)
    lines = sqlite_read(db)
    seqs = [json.loads(line)["seq"] for line in lines]
    agree(target, str(keys.public), expect=(0, None, None))
    conn = sqlite3.connect(db)
    # an edit inside one row, as signoff_sqlite::tamper_for_tests does
    conn.execute("UPDATE signoff_audit SET line = replace(line, 'agent:python', 'agent:evil') WHERE seq = 3")
    conn.commit()
    agree(target, expect=(1, 3, seqs.index(3) + 1))
    conn.execute("UPDATE signoff_audit SET line = ? WHERE seq = 3", (lines[seqs.index(3)].decode(),))
    conn.commit()
    agree(target, str(keys.public), expect=(0, None, None))
    # a row deleted
    conn.execute("DELETE FROM signoff_audit WHERE seq = 5")
    conn.commit()
    agree(target, expect=(1, 6, seqs.index(6)))
    conn.close()


def test_a_postgres_trail_tampered_in_place_is_caught_by_both(postgres: Postgres, keys: Keys, tmp_path: pathlib.Path) -> None:
    url = postgres.fresh()
    python_trail(url, "agent-1", 2, keys.secret)
    lines = postgres.read(url)
    seqs = [json.loads(line)["seq"] for line in lines]
    agree(url, str(keys.public), expect=(0, None, None))
    exported = subprocess.run([signoff_cli(), "audit", "checkpoint", url], capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    cp = tmp_path / "cp.json"
    cp.write_text(exported.stdout)
    last = json.loads(exported.stdout)
    postgres.psql(url, "UPDATE signoff_audit SET line = replace(line, 'agent:python', 'agent:evil') WHERE seq = 3;")
    agree(url, expect=(1, 3, seqs.index(3) + 1))
    # the newest rows deleted, below every checkpoint: the key and the exported checkpoint tell
    postgres.psql(url, "DELETE FROM signoff_audit WHERE seq >= 3;")
    agree(url, expect=(0, None, None))
    agree(url, str(keys.public), expect=(1, None, 2))
    agree(url, checkpoint=str(cp), expect=(1, last["seq"], 2))


def test_the_exported_checkpoint_of_the_cli_is_what_the_python_verifier_reports(keys: Keys, tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "t.jsonl"
    python_trail(str(trail), "agent", 2, keys.secret)
    exported = subprocess.run([signoff_cli(), "audit", "checkpoint", str(trail)], capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    cp = tmp_path / "cp.json"
    cp.write_text(exported.stdout)
    read = vt.read_exported(str(cp))
    report = vt.verify(vt.trail_lines(str(trail)))
    assert report.last_checkpoint == read
    assert set(json.loads(exported.stdout)) == {"stream", "seq", "hash"}, "section 9 names exactly these members"
    agree(str(trail), str(keys.public), str(cp), expect=(0, None, None))


def test_the_command_line_exits_like_the_cli(keys: Keys, tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "t.jsonl"
    python_trail(str(trail), "agent", 1, keys.secret)
    bad_cp = tmp_path / "bad.json"
    bad_cp.write_text('{"stream": "agent", "seq": "7"}')
    script = [sys.executable, str(ROOT / "docs" / "verify_trail.py")]
    for args, code in [
        ([str(trail)], 0),
        ([str(trail), "--pubkey", str(keys.public)], 0),
        ([str(trail), "--pubkey", keys.public.read_text().strip().upper()], 0),  # inline hex, either case
        ([str(trail), "--pubkey", str(keys.other_public)], 1),
        ([str(tmp_path / "missing.jsonl")], 2),
        ([f"sqlite:{tmp_path / 'missing.db'}"], 2),
        ([str(trail), "--pubkey", "abcd"], 2),
        ([str(trail), "--pubkey", "zz" * 32], 2),
        ([str(trail), "--checkpoint", str(bad_cp)], 2),
        ([str(trail), "--checkpoint", str(tmp_path / "none.json")], 2),
    ]:
        py = subprocess.run(script + args, capture_output=True, text=True)
        cli = subprocess.run([signoff_cli(), "audit", "verify", *args], capture_output=True, text=True)
        assert (py.returncode, cli.returncode) == (code, code), (args, py.stdout, py.stderr, cli.stdout, cli.stderr)
    ok = subprocess.run(script + [str(trail), "--json", "--pubkey", str(keys.public)], capture_output=True, text=True)
    verdict = json.loads(ok.stdout)
    said = run_cli(str(trail), str(keys.public))
    assert said.summary is not None
    assert verdict["ok"] and verdict["streams"] == {s: {"seq": q, "hash": h} for s, (q, h) in said.streams.items()}
    assert verdict["signatures_verified"] == int(said.summary[4])


def _record_rs_events() -> List[str]:
    text = (ROOT / "crates" / "signoff" / "src" / "audit" / "record.rs").read_text()
    enum = text[text.index("pub enum Event") : text.index("impl Event")]
    return re.findall(r'#\[serde\(rename = "([a-z_.]+)"\)\]', enum)


def _record_rs_fields() -> List[str]:
    text = (ROOT / "crates" / "signoff" / "src" / "audit" / "record.rs").read_text()
    body = text[text.index("pub struct AuditRecord") :]
    body = body[: body.index("\n}\n")]
    return re.findall(r"^\s+pub ([a-z_]+):", body, re.M)


def test_the_document_names_every_event_and_field_the_core_writes() -> None:
    doc = (ROOT / "docs" / "audit-trail.md").read_text()
    events = _record_rs_events()
    fields = _record_rs_fields()
    assert "policy.decided" in events and "seq" in fields
    for event in events:
        assert f"| `{event}` |" in doc, f"docs/audit-trail.md section 4 does not describe the event `{event}`"
    for name in fields:
        assert f"| `{name}` |" in doc, f"docs/audit-trail.md section 3 does not describe the field `{name}`"


def test_a_torn_line_fails_both_and_the_recovered_trail_passes_both(keys: Keys, tmp_path: pathlib.Path) -> None:
    trail = tmp_path / "t.jsonl"
    python_trail(str(trail), "agent", 1, keys.secret)
    lines = trail.read_bytes().split(b"\n")[:-1]
    with open(trail, "ab") as f:
        f.write(lines[-1][: len(lines[-1]) // 2])  # a crash mid-write
    agree(str(trail), expect=(1, None, len(lines) + 1))
    # the next writer cuts the torn line and records audit.recovered (section 11.1)
    python_trail(str(trail), "agent", 1, keys.secret)
    after = [json.loads(line) for line in trail.read_bytes().split(b"\n")[:-1]]
    assert after[len(lines)]["event"] == "audit.recovered" and "torn" in after[len(lines)]["error"]
    agree(str(trail), str(keys.public), expect=(0, None, None))
    assert vt.main([str(trail), "--strict", "--json"]) == 0


def _valid_record(**fields: object) -> Dict[str, Any]:
    r: Dict[str, Any] = {"event": "policy.decided", "seq": 1, "stream": "s", "ts": "2026-12-01T00:00:00.000000Z", "prev": vt.GENESIS}
    r.update(fields)
    seal(r)
    return r


MALFORMED: Dict[str, Callable[[bytes], bytes]] = {
    # what section 3 and section 12 step 1 say about a line, one case each
    "seq-float": lambda line: line.replace(b'"seq":1,', b'"seq":1.0,'),
    "seq-string": lambda line: line.replace(b'"seq":1,', b'"seq":"1",'),
    "seq-negative": lambda line: line.replace(b'"seq":1,', b'"seq":-1,'),
    "seq-too-big": lambda line: line.replace(b'"seq":1,', b'"seq":18446744073709551616,'),
    "seq-max": lambda line: line.replace(b'"seq":1,', b'"seq":18446744073709551615,'),
    "seq-missing": lambda line: line.replace(b'"seq":1,', b""),
    "seq-twice": lambda line: line.replace(b'"seq":1,', b'"seq":1,"seq":1,'),
    "unknown-key-twice": lambda line: b'{"zz":1,"zz":2,' + line[1:],
    "event-escaped": lambda line: line.replace(b'"policy.decided"', b'"policy\\u002edecided"'),
    "event-number": lambda line: line.replace(b'"policy.decided"', b"7"),
    "stream-escaped": lambda line: line.replace(b'"stream":"s"', b'"stream":"\\u0073"'),
    "stream-lone-surrogate": lambda line: line.replace(b'"stream":"s"', b'"stream":"\\ud800"'),
    "key-lone-surrogate": lambda line: b'{"\\ud800":1,' + line[1:],
    "value-lone-surrogate": lambda line: b'{"aa":"\\ud800",' + line[1:],
    "signature-null": lambda line: line.replace(b'"stream":', b'"signature":null,"stream":'),
    "signature-number": lambda line: line.replace(b'"stream":', b'"signature":5,"stream":'),
    "nan": lambda line: b'{"aa":NaN,' + line[1:],
    "bom": lambda line: b"\xef\xbb\xbf" + line,
    "not-utf8": lambda line: b'{"aa":"\xff",' + line[1:],
    "raw-control": lambda line: b'{"aa":"\x01",' + line[1:],
    "trailing-garbage": lambda line: line + b"x",
    "trailing-space": lambda line: line + b" ",
    "leading-tab": lambda line: b"\t" + line,
    "space-inside": lambda line: line.replace(b'"seq":1,', b'"seq": 1,'),
    "hash-uppercase": lambda line: re.sub(rb'"hash":"([0-9a-f]+)"', lambda m: b'"hash":"' + m.group(1).upper() + b'"', line),
    "hash-short": lambda line: re.sub(rb'"hash":"([0-9a-f]+)"', lambda m: b'"hash":"' + m.group(1)[:10] + b'"', line),
    "deep-args": lambda line: b'{"aa":' + b"[" * 200 + b"]" * 200 + b"," + line[1:],
    "string-line": lambda line: b'"just a string"',
    "empty-object": lambda line: b"{}",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_line_gets_the_same_verdict_from_both(name: str, tmp_path: pathlib.Path) -> None:
    first = _valid_record()
    second = _valid_record(seq=2, prev=first["hash"], event="action.completed")
    line = vt.canonical(first).encode()
    damaged = MALFORMED[name](line)
    assert damaged != line
    lines = [damaged, vt.canonical(second).encode()]
    trail = tmp_path / "t.jsonl"
    trail.write_bytes(joined(lines))
    verdict = agree(str(trail))
    if name not in ("unknown-key-twice", "signature-null", "trailing-space", "leading-tab", "deep-args"):
        assert verdict.code == 1, verdict.text


def test_random_byte_damage_gets_the_same_verdict_from_both(keys: Keys, tmp_path: pathlib.Path) -> None:
    import random

    trail = tmp_path / "t.jsonl"
    python_trail(str(trail), "agent", 1, keys.secret)
    data = trail.read_bytes()
    rng = random.Random(17)
    alphabet = b'{}[]":,\\ 0123456789abcdefnulltrue-.eE\n\t\x00\xff\xc3'
    failed = 0
    for n in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(damaged))
            what = rng.randrange(3)
            if what == 0:
                damaged[at] = rng.choice(alphabet)
            elif what == 1:
                del damaged[at]
            else:
                damaged.insert(at, rng.choice(alphabet))
        case = tmp_path / f"damaged-{n}.jsonl"
        case.write_bytes(bytes(damaged))
        pub = str(keys.public) if n % 2 else None
        failed += agree(str(case), pub).code == 1
    assert failed > 100, "most damage is caught"
