"""The tamper classes of the Rust tests (crates/signoff/tests/audit_trail.rs,
crates/signoff-cli/tests/checkpoints.rs and cli.rs, crates/signoff-sqlite and
-postgres tests), plus a few they imply, as functions over a trail's lines.

Each returns the tampered bytes and the verifications to run on them, each
with the (exit code, first bad seq, line) it must give. The expectations
are worked out from the original lines here, independently of either
verifier, so a test cannot pass by both verifiers being wrong the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import verify_trail as vt

Expect = Tuple[int, Optional[int], Optional[int]]
OK: Expect = (0, None, None)


@dataclass
class Run:
    """One verification: with the real key, another key or none; with an exported checkpoint or not."""

    expect: Expect
    key: Optional[str] = None  # "right" | "other"
    exported: Optional[Dict[str, Any]] = None


@dataclass
class Case:
    data: bytes
    runs: List[Run]


@dataclass
class Ctx:
    lines: List[bytes]
    secret_seed: bytes
    heads: List[Dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.heads = [json.loads(line) for line in self.lines]

    # positions -------------------------------------------------------------------------------

    def same_stream_after(self, i: int) -> Optional[int]:
        s = self.heads[i]["stream"]
        return next((j for j in range(i + 1, len(self.heads)) if self.heads[j]["stream"] == s), None)

    def middle(self) -> int:
        """A record (not a checkpoint) past the middle that has a record of its stream before and after it."""
        n = len(self.heads)
        for i in list(range(n // 2, n)) + list(range(n // 2)):
            h = self.heads[i]
            if h["event"] != vt.CHECKPOINT and h["seq"] > 1 and self.same_stream_after(i) is not None:
                return i
        raise AssertionError("no record in the middle of a stream")

    def checkpoints(self) -> List[int]:
        return [i for i, h in enumerate(self.heads) if h["event"] == vt.CHECKPOINT]

    def key_expect(self, keep: int) -> Expect:
        """With the key, the first `keep` lines pass only if every stream in them holds a checkpoint."""
        streams = {h["stream"] for h in self.heads[:keep]}
        signed = {h["stream"] for h in self.heads[:keep] if h["event"] == vt.CHECKPOINT}
        return OK if streams <= signed and signed else (1, None, keep)

    def exported(self, i: int) -> Dict[str, Any]:
        h = self.heads[i]
        return {"stream": h["stream"], "seq": h["seq"], "hash": h["hash"]}


def joined(lines: List[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def seal(record: Dict[str, Any]) -> bytes:
    """A record's canonical line with its hash recomputed (docs/audit-trail.md section 6)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    h = blake3.blake3(record["prev"].encode() + vt.canonical(body).encode()).hexdigest()
    record["hash"] = h
    return vt.canonical(record).encode()


def rechain(lines: List[bytes], edit: Callable[[Dict[str, Any]], None], seed: Optional[bytes]) -> List[bytes]:
    """Every record edited by `edit`, re-linked and re-hashed per stream; checkpoints
    re-signed with `seed` when given (a rewrite by the key holder)."""
    last: Dict[str, Tuple[int, str]] = {}
    out = []
    for line in lines:
        r = json.loads(line)
        seq, prev = last.get(r["stream"], (0, vt.GENESIS))
        r["prev"] = prev
        if r["event"] == vt.CHECKPOINT:
            if seed is not None:
                msg = vt.checkpoint_message(r["stream"], seq, prev)
                r["signature"] = Ed25519PrivateKey.from_private_bytes(seed).sign(msg).hex()
        else:
            edit(r)
        out.append(seal(r))
        last[r["stream"]] = (r["seq"], r["hash"])
    return out


# ------------------------------------------------------------------------------- tamper classes


def edited_field(c: Ctx) -> Case:
    """A field's value changed, hash left alone: found at that seq."""
    i = c.middle()
    lines = list(c.lines)
    r = json.loads(lines[i])
    ts = r["ts"]
    edited = ts[:-2] + ("1" if ts[-2] != "1" else "2") + ts[-1]
    lines[i] = lines[i].replace(json.dumps(ts).encode(), json.dumps(edited).encode())
    assert lines[i] != c.lines[i]
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1))])


def field_added(c: Ctx) -> Case:
    """An unknown field added, hash left alone: found at that seq."""
    i = c.middle()
    lines = list(c.lines)
    lines[i] = b'{"aaa":"injected",' + lines[i][1:]
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1))])


def field_removed(c: Ctx) -> Case:
    """A field removed, hash left alone: found at that seq."""
    i = c.middle()
    r = json.loads(c.lines[i])
    lines = list(c.lines)
    key = next(k for k in ("reason", "actor", "outcome", "action") if k in r)
    del r[key]
    lines[i] = vt.canonical(r).encode()
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1))])


def removed(c: Ctx) -> Case:
    """A record deleted from the middle: found at the next seq of its stream."""
    i = c.middle()
    nxt = c.same_stream_after(i)
    assert nxt is not None
    lines = c.lines[:i] + c.lines[i + 1 :]
    return Case(joined(lines), [Run((1, c.heads[nxt]["seq"], nxt))])


def first_removed(c: Ctx) -> Case:
    """The trail's first record deleted: its stream starts at seq 2."""
    nxt = c.same_stream_after(0)
    assert nxt is not None
    return Case(joined(c.lines[1:]), [Run((1, 2, nxt))])


def swapped(c: Ctx) -> Case:
    """A record and the next of its stream swapped: found at the first one out of order."""
    i = c.middle()
    j = c.same_stream_after(i)
    assert j is not None
    lines = list(c.lines)
    lines[i], lines[j] = lines[j], lines[i]
    return Case(joined(lines), [Run((1, c.heads[j]["seq"], i + 1))])


def duplicated(c: Ctx) -> Case:
    """A record repeated right after itself: the copy fails as a repeat."""
    i = c.middle()
    lines = c.lines[: i + 1] + [c.lines[i]] + c.lines[i + 1 :]
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 2))])


def inserted(c: Ctx) -> Case:
    """A forged record chained correctly after another: the original next seq fails as a repeat."""
    i = c.middle()
    nxt = c.same_stream_after(i)
    assert nxt is not None
    forged = json.loads(c.lines[i])
    forged.update(seq=forged["seq"] + 1, prev=forged["hash"], action="forged", event="policy.decided")
    forged.pop("signature", None)
    lines = c.lines[: i + 1] + [seal(forged)] + c.lines[i + 1 :]
    return Case(joined(lines), [Run((1, c.heads[nxt]["seq"], nxt + 2))])


def edited_rehashed(c: Ctx) -> Case:
    """A record edited and its hash recomputed: the chain breaks at the next record of its stream."""
    i = c.middle()
    nxt = c.same_stream_after(i)
    assert nxt is not None
    r = json.loads(c.lines[i])
    r["actor"] = "agent:evil"
    lines = list(c.lines)
    lines[i] = seal(r)
    return Case(joined(lines), [Run((1, c.heads[nxt]["seq"], nxt + 1))])


def moved_to_another_stream(c: Ctx) -> Case:
    """Cross-stream: a record re-labelled (and re-hashed) into a new stream: that stream starts late."""
    i = c.middle()
    r = json.loads(c.lines[i])
    r["stream"] = "intruder"
    lines = list(c.lines)
    lines[i] = seal(r)
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1))])


def array_line(c: Ctx) -> Case:
    """A record replaced by an array of its chain fields: read positionally, it has no hash
    member, so it fails at its seq (docs/audit-trail.md section 12 step 1)."""
    i = c.middle()
    h = c.heads[i]
    lines = list(c.lines)
    lines[i] = json.dumps([h["seq"], h["stream"], h["prev"], h["hash"], h["event"]], separators=(",", ":")).encode()
    return Case(joined(lines), [Run((1, h["seq"], i + 1))])


def crlf(c: Ctx) -> Case:
    """Line ends rewritten as CRLF: the CR is part of the first line, whose hash then fails."""
    return Case(b"".join(line + b"\r\n" for line in c.lines), [Run((1, c.heads[0]["seq"], 1))])


def torn_final_line(c: Ctx) -> Case:
    """A crash mid-write: half a line, no newline, after the complete ones."""
    half = c.lines[-1][: len(c.lines[-1]) // 2]
    return Case(joined(c.lines) + half, [Run((1, None, len(c.lines) + 1))])


def garbage_line(c: Ctx) -> Case:
    """A complete line that is not a record."""
    data = joined(c.lines) + b'{"seq":4,"stream":"audit-trail-test","garbage\n'
    return Case(data, [Run((1, None, len(c.lines) + 1))])


def empty_line(c: Ctx) -> Case:
    """An empty line in the middle."""
    i = c.middle()
    return Case(joined(c.lines[:i]) + b"\n" + joined(c.lines[i:]), [Run((1, None, i + 1))])


def rewritten(c: Ctx) -> Case:
    """The whole trail rewritten with recomputed hashes: consistent on its own; caught by
    the key at the first checkpoint and by an exported checkpoint at its seq."""

    def edit(r: Dict[str, Any]) -> None:
        r["action"] = f"rewritten-{r['seq']}"

    lines = rechain(c.lines, edit, None)
    runs = [Run(OK)]
    cps = c.checkpoints()
    if cps:
        first, last = cps[0], cps[-1]
        runs.append(Run((1, c.heads[first]["seq"], first + 1), key="right"))
        runs.append(Run((1, c.heads[last]["seq"], last + 1), exported=c.exported(last)))
    return Case(joined(lines), runs)


def rewritten_and_resigned(c: Ctx) -> Case:
    """A rewrite by someone holding the secret key: the key cannot tell, an exported checkpoint can."""

    def edit(r: Dict[str, Any]) -> None:
        if "actor" in r:
            r["actor"] = "agent:innocent"

    lines = rechain(c.lines, edit, c.secret_seed)
    last = c.checkpoints()[-1]
    return Case(joined(lines), [Run(OK, key="right"), Run((1, c.heads[last]["seq"], last + 1), exported=c.exported(last))])


def other_key(c: Ctx) -> Case:
    """Verified with another public key: fails at the first checkpoint."""
    first = c.checkpoints()[0]
    return Case(joined(c.lines), [Run((1, c.heads[first]["seq"], first + 1), key="other"), Run(OK, key="right")])


def forged_signature(c: Ctx) -> Case:
    """A checkpoint's signature altered and its hash recomputed: fails at that checkpoint with the key."""
    i = c.checkpoints()[0]
    r = json.loads(c.lines[i])
    sig = r["signature"]
    r["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    lines = list(c.lines)
    lines[i] = seal(r)
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1), key="right")])


def signature_removed(c: Ctx) -> Case:
    """A checkpoint without its signature (hash recomputed): fails at that checkpoint with the key."""
    i = c.checkpoints()[0]
    r = json.loads(c.lines[i])
    del r["signature"]
    lines = list(c.lines)
    lines[i] = seal(r)
    return Case(joined(lines), [Run((1, c.heads[i]["seq"], i + 1), key="right")])


def cut_before_exported(c: Ctx) -> Case:
    """Truncated below the last checkpoint: passes with the key alone, fails against the
    checkpoint exported before the cut, at its seq."""
    last = c.checkpoints()[-1]
    cut = c.lines[:last]
    exported = c.exported(last)
    runs = [Run((1, exported["seq"], len(cut)), exported=exported), Run((1, exported["seq"], len(cut)), key="right", exported=exported)]
    return Case(joined(cut), runs)


def cut_after_checkpoint(c: Ctx) -> Case:
    """Records after the last remaining checkpoint: a warning with the key, not a failure."""
    cps = c.checkpoints()
    keep = cps[-2] + 2 if len(cps) > 1 else cps[-1] + 1
    return Case(joined(c.lines[:keep]), [Run(c.key_expect(keep), key="right"), Run(OK)])


def cut_below_first_checkpoint(c: Ctx) -> Case:
    """Every checkpoint cut away: fails with the key (nothing is signed), passes without."""
    first = c.checkpoints()[0]
    cut = c.lines[:first]
    return Case(joined(cut), [Run((1, None, len(cut)), key="right"), Run(OK)])


def unsigned_stream_added(c: Ctx) -> Case:
    """An unsigned stream beside the signed ones: with the key, that stream fails (no seq)."""
    extra = []
    prev = vt.GENESIS
    for seq in (1, 2):
        r: Dict[str, Any] = {"event": "policy.decided", "action": "db.query", "actor": "agent:unsigned", "seq": seq,
                             "stream": "unsigned-writer", "ts": "2026-12-01T00:00:00.000000Z", "prev": prev}
        extra.append(seal(r))
        prev = r["hash"]
    lines = c.lines + extra
    return Case(joined(lines), [Run((1, None, len(lines)), key="right"), Run(OK)])


def stream_removed(c: Ctx) -> Case:
    """Every record of one stream removed: the key cannot tell (the other streams are signed);
    an exported checkpoint of that stream can."""
    gone = c.heads[0]["stream"]
    lines = [line for line, h in zip(c.lines, c.heads) if h["stream"] != gone]
    assert lines, "another stream is left"
    mine = [i for i in c.checkpoints() if c.heads[i]["stream"] == gone]
    runs = [Run(OK), Run(OK, key="right")]
    if mine:
        runs.append(Run((1, c.heads[mine[-1]]["seq"], len(lines)), exported=c.exported(mine[-1])))
    return Case(joined(lines), runs)


def unknown_event_appended(c: Ctx) -> Case:
    """A record with an event no version writes yet, chained correctly at a stream's end: not a break."""
    h = c.heads[-1]  # the head of the last line's stream
    r = {"event": "grant.used", "action": "db.export", "grant_id": "g-1", "seq": h["seq"] + 1,
         "stream": h["stream"], "ts": h["ts"], "prev": h["hash"]}
    lines = c.lines + [seal(r)]
    runs = [Run(OK)]
    if c.checkpoints():
        runs.append(Run(OK, key="right"))
    return Case(joined(lines), runs)


def exported_beyond_the_end(c: Ctx) -> Case:
    """An exported checkpoint past the trail's end (records cut after it was exported)."""
    h = c.heads[-1]
    exported = {"stream": h["stream"], "seq": h["seq"] + 5, "hash": "ab" * 32}
    return Case(joined(c.lines), [Run((1, h["seq"] + 5, len(c.lines)), exported=exported)])


def exported_untouched(c: Ctx) -> Case:
    """The untouched trail against its own last checkpoint, with and without the key."""
    cps = c.checkpoints()
    runs = [Run(OK)]
    if cps:
        runs += [Run(OK, key="right"), Run(OK, exported=c.exported(cps[-1])), Run(OK, key="right", exported=c.exported(cps[-1]))]
    else:
        runs.append(Run(OK, exported=c.exported(len(c.heads) // 2)))
    return Case(joined(c.lines), runs)


def emptied(c: Ctx) -> Case:
    """Everything deleted: an empty trail verifies without a key, never with one."""
    runs = [Run(OK), Run((1, None, 0), key="right")]
    return Case(b"", runs)


# name -> (function, needs): "signed" needs checkpoints, "bytes" a file that can hold any
# bytes, "streams" a trail of several streams
TAMPERS: Dict[str, Tuple[Callable[[Ctx], Case], Tuple[str, ...]]] = {
    "untouched": (exported_untouched, ()),
    "edited-field": (edited_field, ()),
    "field-added": (field_added, ()),
    "field-removed": (field_removed, ()),
    "removed": (removed, ()),
    "first-removed": (first_removed, ()),
    "swapped": (swapped, ()),
    "duplicated": (duplicated, ()),
    "inserted": (inserted, ()),
    "edited-rehashed": (edited_rehashed, ()),
    "moved-to-another-stream": (moved_to_another_stream, ()),
    "garbage-line": (garbage_line, ()),
    "empty-line": (empty_line, ()),
    "array-line": (array_line, ()),
    "rewritten": (rewritten, ()),
    "unknown-event-appended": (unknown_event_appended, ()),
    "exported-beyond-the-end": (exported_beyond_the_end, ()),
    "emptied": (emptied, ()),
    "crlf": (crlf, ("bytes",)),
    "torn-final-line": (torn_final_line, ("bytes",)),
    "other-key": (other_key, ("signed",)),
    "forged-signature": (forged_signature, ("signed",)),
    "signature-removed": (signature_removed, ("signed",)),
    "rewritten-and-resigned": (rewritten_and_resigned, ("signed",)),
    "cut-before-exported": (cut_before_exported, ("signed",)),
    "cut-after-checkpoint": (cut_after_checkpoint, ("signed",)),
    "cut-below-first-checkpoint": (cut_below_first_checkpoint, ("signed",)),
    "unsigned-stream-added": (unsigned_stream_added, ("signed",)),
    "stream-removed": (stream_removed, ("signed", "streams")),
}
