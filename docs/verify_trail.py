#!/usr/bin/env python3
"""An independent verifier of signoff audit trails, written from
docs/audit-trail.md alone (section numbers below refer to it).

    verify_trail.py TRAIL [--pubkey KEY] [--checkpoint FILE] [--strict] [--json]

TRAIL is a JSONL file, ``sqlite:PATH`` (read with Python's sqlite3) or a
``postgres://`` / ``postgresql://`` URL (read with ``psql``, which must be on
PATH). ``--pubkey`` takes the public key as 64 hex digits or a file holding
them; ``--checkpoint`` an exported checkpoint file (section 9). It prints
``TRAIL: ok — ...`` or ``TRAIL: TAMPERED — seq N, line L: reason`` as
``signoff audit verify`` does, and exits 0 (verified), 1 (not verified) or 2
(usage error, unreadable input).

``--strict`` adds checks the CLI does not make: every line is the canonical
JSON of its own content (section 5) and every ``args_digest`` of a record
that holds ``args`` matches them (section 10.1). ``--json`` prints the result
as one JSON object instead of text.

Needs the ``blake3`` and ``cryptography`` packages (``pip install blake3
cryptography``). Known limit: a line nested deeper than Python's recursion
limit (about 900 levels; a gate never writes more than 66) is reported as
malformed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple

try:
    import blake3
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError as missing:  # pragma: no cover - depends on the machine
    sys.stderr.write(f"verify_trail.py needs the blake3 and cryptography packages: {missing}\n")
    sys.exit(2)

OK, TAMPERED, USAGE = 0, 1, 2

GENESIS = "0" * 64  # section 6
HASH_KEY = b',"hash":"'  # section 6
CHECKPOINT = "audit.checkpoint"  # section 8
U64_MAX = 2**64 - 1
HEX = re.compile(r"[0-9a-fA-F]*")


class Unreadable(Exception):
    """The trail, key or checkpoint cannot be read: exit 2."""


# --------------------------------------------------------------- section 3: one line's chain fields


@dataclass
class Head:
    seq: int
    stream: str
    prev: str
    hash: str
    event: str
    signature: Optional[str]
    value: Dict[str, Any]  # the whole object, for --strict


class Obj(dict):  # type: ignore[type-arg]
    """A JSON object that remembers the keys that occurred more than once."""

    repeated: FrozenSet[str] = frozenset()


def _pairs(pairs: List[Tuple[str, Any]]) -> Obj:
    obj = Obj(pairs)
    if len(obj) != len(pairs):
        seen: Set[str] = set()
        repeated: Set[str] = set()
        for k, _ in pairs:
            (repeated if k in seen else seen).add(k)
        obj.repeated = frozenset(repeated)
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)
_WS = " \t\n\r"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _members(text: str) -> List[Tuple[str, Any, str]]:
    """The top-level members of one JSON object as (key, value, raw text)."""
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _skip(text, i + 1)
    out: List[Tuple[str, Any, str]] = []
    if text[i : i + 1] == "}":
        i += 1
    else:
        while True:
            if text[i : i + 1] != '"':
                raise ValueError(f"expected a key at column {i + 1}")
            key, i = scanstring(text, i + 1, True)
            i = _skip(text, i)
            if text[i : i + 1] != ":":
                raise ValueError(f"expected `:` at column {i + 1}")
            i = _skip(text, i + 1)
            value, end = _DECODER.raw_decode(text, i)
            out.append((key, value, text[i:end]))
            i = _skip(text, end)
            if text[i : i + 1] == ",":
                i = _skip(text, i + 1)
            elif text[i : i + 1] == "}":
                i += 1
                break
            else:
                raise ValueError(f"expected `,` or `}}` at column {i + 1}")
    if _skip(text, i) != len(text):
        raise ValueError(f"trailing characters at column {i + 1}")
    return out


CHAIN_FIELDS = ("seq", "stream", "prev", "hash", "event", "signature")


def _elements(text: str) -> List[Tuple[str, Any, str]]:
    """A top-level array of five or six elements, read positionally as the
    chain fields (section 12 step 1: what `signoff audit verify` does)."""
    i = _skip(text, 0)
    out: List[Tuple[str, Any, str]] = []
    i = _skip(text, i + 1)
    if text[i : i + 1] != "]":
        while True:
            value, end = _DECODER.raw_decode(text, i)
            if len(out) == len(CHAIN_FIELDS):
                raise ValueError("an array of more than six elements")
            out.append((CHAIN_FIELDS[len(out)], value, text[i:end]))
            i = _skip(text, end)
            if text[i : i + 1] == ",":
                i = _skip(text, i + 1)
            elif text[i : i + 1] == "]":
                break
            else:
                raise ValueError(f"expected `,` or `]` at column {i + 1}")
    if _skip(text, i + 1) != len(text):
        raise ValueError(f"trailing characters at column {i + 2}")
    if len(out) < 5:
        raise ValueError("an array of fewer than five elements")
    return out


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate from a \\u escape
        return False


def parse_head(line: bytes) -> Head:
    """Section 3 and section 12 step 1. Raises ValueError naming the problem."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        array = text[_skip(text, 0) : _skip(text, 0) + 1] == "["
        members = _elements(text) if array else _members(text)
    except RecursionError:
        raise ValueError("nested too deeply for this verifier") from None
    except ValueError as e:
        raise ValueError(f"not a valid audit record: {e}") from None
    chain: Dict[str, Tuple[Any, str]] = {}
    for key, value, raw in members:
        if not _encodable(key):
            raise ValueError("not a valid audit record: a key holds a lone surrogate")
        if key in CHAIN_FIELDS:
            if key in chain:
                raise ValueError(f"not a valid audit record: duplicate field `{key}`")
            chain[key] = (value, raw)
    for key in ("seq", "stream", "prev", "hash", "event"):
        if key not in chain:
            raise ValueError(f"not a valid audit record: missing field `{key}`")
    seq = chain["seq"][0]
    if type(seq) is not int or not 0 <= seq <= U64_MAX:
        raise ValueError("not a valid audit record: `seq` is not an integer from 0 to 2^64-1")
    strings: Dict[str, Optional[str]] = {}
    for key in ("stream", "prev", "hash", "event", "signature"):
        value, raw = chain.get(key, (None, "null"))
        if key == "signature" and value is None:
            strings[key] = None
            continue
        if not isinstance(value, str):
            raise ValueError(f"not a valid audit record: `{key}` is not a string")
        if key != "stream" and "\\" in raw:
            raise ValueError(f"not a valid audit record: `{key}` holds an escape sequence")
        if not _encodable(value):
            raise ValueError(f"not a valid audit record: `{key}` holds a lone surrogate")
        strings[key] = value
    return Head(
        seq=seq,
        stream=strings["stream"] or "",
        prev=strings["prev"] or "",
        hash=strings["hash"] or "",
        event=strings["event"] or "",
        signature=strings["signature"],
        value=members_to_obj([] if array else members),
    )


def members_to_obj(members: List[Tuple[str, Any, str]]) -> Obj:
    return _pairs([(k, v) for k, v, _ in members])


# ------------------------------------------------------------------------ section 6: the hash


def line_hash(line: bytes, prev: str, claimed: str) -> Optional[str]:
    """The hash the line's bytes give, or None without a well-formed hash member."""
    at = line.rfind(HASH_KEY)
    if at < 0:
        return None
    start = at + len(HASH_KEY)
    want = claimed.encode("utf-8")
    if line[start : start + len(want)] != want or line[start + len(want) : start + len(want) + 1] != b'"':
        return None
    end = start + len(want) + 1
    h = blake3.blake3(prev.encode("utf-8"))
    h.update(line[:at])
    h.update(line[end:])
    return h.hexdigest()


# ---------------------------------------------------------------- section 8: checkpoint signatures

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(b: bytes) -> Optional[Tuple[int, int]]:
    """An Edwards point from its 32-byte encoding, as ed25519-dalek reads it
    (y taken mod p); None when it is not on the curve."""
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    y %= _P
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    if v == 0:
        if u != 0:
            return None
        x = 0
    else:
        x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
        if (v * x * x - u) % _P != 0:
            x = x * _SQRT_M1 % _P
            if (v * x * x - u) % _P != 0:
                return None
    if x & 1:
        x = _P - x  # the non-negative root
    if sign:
        x = (_P - x) % _P
    return x, y


def _add(a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def _small_order(point: Tuple[int, int]) -> bool:
    for _ in range(3):
        point = _add(point, point)
    return point == (0, 1)


@dataclass
class PublicKey:
    raw: bytes
    key: Ed25519PublicKey

    def verifies(self, message: bytes, signature: bytes) -> bool:
        """Strict Ed25519 (section 8): S below the group order, R and A not of small order."""
        if len(signature) != 64 or int.from_bytes(signature[32:], "little") >= _L:
            return False
        r = _decode_point(signature[:32])
        a = _decode_point(self.raw)
        if r is None or a is None or _small_order(r) or _small_order(a):
            return False
        try:
            self.key.verify(signature, message)
            return True
        except InvalidSignature:
            return False


def read_public_key(arg: str) -> PublicKey:
    text = arg
    if os.path.isfile(arg):
        try:
            with open(arg, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise Unreadable(f"{arg}: cannot read: {e}") from None
    text = text.strip()
    if not HEX.fullmatch(text) or len(text) % 2:
        raise Unreadable("--pubkey: public key is not hex")
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise Unreadable("--pubkey: public key must be 32 bytes (64 hex characters)")
    if _decode_point(raw) is None:
        raise Unreadable("--pubkey: not an ed25519 public key")
    return PublicKey(raw, Ed25519PublicKey.from_public_bytes(raw))


def checkpoint_message(stream: str, seq: int, hash_: str) -> bytes:
    return f"signoff-checkpoint\n{stream}\n{seq}\n{hash_}".encode("utf-8")


# -------------------------------------------------------------- section 9: exported checkpoints


@dataclass
class Exported:
    stream: str
    seq: int
    hash: str


def read_exported(path: str) -> Exported:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.loads(f.read(), object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise Unreadable(f"{path}: not a checkpoint: {e}") from None
    if not isinstance(value, Obj) or value.repeated & {"stream", "seq", "hash"}:
        raise Unreadable(f"{path}: not a checkpoint: expected one object with stream, seq and hash")
    stream, seq, hash_ = value.get("stream"), value.get("seq"), value.get("hash")
    if not isinstance(stream, str) or not isinstance(hash_, str) or type(seq) is not int or not 0 <= seq <= U64_MAX:
        raise Unreadable(f"{path}: not a checkpoint: needs `stream` (string), `seq` (integer) and `hash` (string)")
    return Exported(stream, seq, hash_)


# ------------------------------------------------------------------- section 5: canonical JSON


def canonical_float(f: float) -> str:
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    sign = "-" if str(f).startswith("-") else ""
    if f == 0:
        return sign + "0.0"
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    e0 = int(exp or 0) - len(frac)
    stripped = digits.rstrip("0")
    e0 += len(digits) - len(stripped)
    digits, n = stripped, len(stripped)
    x = e0 + n - 1  # exponent of the first digit
    if -5 <= x <= 15:
        if n - 1 <= x:
            return sign + digits + "0" * (x - (n - 1)) + ".0"
        if x >= 0:
            return sign + digits[: x + 1] + "." + digits[x + 1 :]
        return sign + "0." + "0" * (-x - 1) + digits
    body = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{body}e{'+' if x >= 0 else '-'}{abs(x)}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def canonical_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(value: Any) -> str:
    """Section 5. Raises ValueError for what has no canonical form."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not -(2**63) <= value <= U64_MAX:
            raise ValueError(f"integer {value} is outside the integer ranges")
        return str(value)
    if isinstance(value, float):
        return canonical_float(value)
    if isinstance(value, str):
        return canonical_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        if getattr(value, "repeated", None):
            raise ValueError("an object repeats a key")
        return "{" + ",".join(canonical_string(k) + ":" + canonical(value[k]) for k in sorted(value)) + "}"
    raise ValueError(f"unexpected value {value!r}")


def strict_problem(line: bytes, head: Head) -> Optional[str]:
    """What --strict finds wrong with a line that passed the chain checks."""
    try:
        again = canonical(head.value).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as e:
        return f"not canonical JSON: {e}"
    if again != line:
        at = next((i for i, (a, b) in enumerate(zip(again, line)) if a != b), min(len(again), len(line)))
        return f"not canonical JSON (differs from byte {at + 1}: {line[at:at + 24]!r} should be {again[at:at + 24]!r})"
    args, digest = head.value.get("args"), head.value.get("args_digest")
    if args is not None and digest is not None:
        want = "blake3:" + blake3.blake3(canonical(args).encode("utf-8")).hexdigest()
        if digest != want:
            return f"`args_digest` is not the digest of `args` (expected {want})"
    return None


# -------------------------------------------------------------------------- section 11: storage


def jsonl_lines(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            yield from f  # binary iteration splits after each LF only
    except OSError as e:
        raise Unreadable(f"{path}: cannot read: {e}") from None


def sqlite_lines(path: str) -> Iterator[bytes]:
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro", uri=True)
        conn.text_factory = bytes
        rows = conn.execute("SELECT line FROM signoff_audit ORDER BY pos").fetchall()
        conn.close()
    except sqlite3.Error as e:
        raise Unreadable(f"sqlite:{path}: cannot read the trail: {e}") from None
    text = bytearray()
    for (line,) in rows:
        if isinstance(line, str):
            line = line.encode("utf-8")
        if not isinstance(line, bytes):
            raise Unreadable(f"sqlite:{path}: a `line` is not text")
        text += line + b"\n"
    # each row followed by LF, then split at every LF (section 11)
    yield from _lf_split(bytes(text))


def postgres_lines(url: str) -> Iterator[bytes]:
    psql = shutil.which("psql")
    if psql is None:
        raise Unreadable("reading a PostgreSQL trail needs `psql` on PATH")
    query = "SELECT line FROM signoff_audit ORDER BY pos"
    env = dict(os.environ, PGCLIENTENCODING="UTF8")
    done = subprocess.run(
        [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query],
        capture_output=True,
        env=env,
    )
    if done.returncode != 0:
        raise Unreadable(f"cannot read the trail: {done.stderr.decode('utf-8', 'replace').strip()}")
    # psql ends every row with LF, as section 11 reads the rows
    yield from _lf_split(done.stdout)


def _lf_split(data: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        at = data.find(b"\n", start)
        if at < 0:
            if start < len(data):
                yield data[start:]
            return
        yield data[start : at + 1]
        start = at + 1


def trail_lines(target: str) -> Iterable[bytes]:
    if target.startswith(("postgres://", "postgresql://")):
        return postgres_lines(target)
    if target.startswith("sqlite:"):
        path = target[len("sqlite:") :]
        if not os.path.isfile(path):
            raise Unreadable(f"{target}: cannot read: no such file")
        return sqlite_lines(path)
    if not os.path.isfile(target):
        raise Unreadable(f"{target}: cannot read: no such file")
    return jsonl_lines(target)


# ---------------------------------------------------------------------- section 12: verification


@dataclass
class Failure(Exception):
    seq: Optional[int]
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"seq {self.seq}, " if self.seq is not None else ""
        return f"{where}line {self.line}: {self.reason}"


@dataclass
class Report:
    records: int = 0
    bytes: int = 0
    streams: Dict[str, Tuple[int, str]] = field(default_factory=dict)
    checkpoints: int = 0
    signatures_verified: int = 0
    last_checkpoint: Optional[Exported] = None
    stream_checkpoints: Dict[str, int] = field(default_factory=dict)

    def unsigned_tail(self) -> Dict[str, int]:
        out = {}
        for stream in sorted(self.streams, key=lambda s: s.encode("utf-8")):
            n = self.streams[stream][0] - self.stream_checkpoints.get(stream, 0)
            if n > 0:
                out[stream] = n
        return out


def verify(
    lines: Iterable[bytes], key: Optional[PublicKey] = None, expect: Optional[Exported] = None, strict: bool = False
) -> Report:
    """Section 12: raises Failure at the first problem."""
    report = Report()
    expected_seen = False
    line_no = 0
    torn = b""
    for chunk in lines:
        if not chunk.endswith(b"\n"):
            torn = chunk  # only the last piece can lack its LF
            break
        report.bytes += len(chunk)
        line = chunk[:-1]
        line_no += 1
        try:
            head = parse_head(line)
        except ValueError as e:
            raise Failure(None, line_no, str(e)) from None
        last_seq, last_hash = report.streams.get(head.stream, (0, GENESIS))
        # step 2: sequence
        if head.seq != last_seq + 1:
            if last_seq == 0:
                why = f"stream `{head.stream}` starts at seq {head.seq}: earlier records are missing"
            elif head.seq <= last_seq:
                why = f"seq {head.seq} comes after seq {last_seq}: records reordered, duplicated or inserted"
            else:
                why = f"seq {head.seq} follows seq {last_seq}: {head.seq - last_seq - 1} record(s) missing"
            raise Failure(head.seq, line_no, why)
        # step 3: link
        if head.prev != last_hash:
            raise Failure(head.seq, line_no, f"`prev` does not match the hash of seq {last_seq}: the chain is broken here")
        # step 4: hash
        if line_hash(line, head.prev, head.hash) != head.hash:
            raise Failure(head.seq, line_no, "hash does not match the record's content: the record was edited")
        # step 5: checkpoint
        if head.event == CHECKPOINT:
            report.checkpoints += 1
            if key is not None:
                sig = head.signature
                if sig is None or not HEX.fullmatch(sig) or len(sig) != 128:
                    raise Failure(head.seq, line_no, "checkpoint has no valid signature")
                if not key.verifies(checkpoint_message(head.stream, last_seq, last_hash), bytes.fromhex(sig)):
                    raise Failure(head.seq, line_no, "checkpoint signature does not verify with the given public key")
                report.signatures_verified += 1
            report.stream_checkpoints[head.stream] = head.seq
            report.last_checkpoint = Exported(head.stream, head.seq, head.hash)
        # step 6: exported checkpoint
        if expect is not None and expect.stream == head.stream and expect.seq == head.seq:
            if expect.hash != head.hash:
                raise Failure(head.seq, line_no, "record differs from the exported checkpoint: the trail was rewritten")
            expected_seen = True
        if strict:
            problem = strict_problem(line, head)
            if problem is not None:
                raise Failure(head.seq, line_no, f"--strict: {problem}")
        # step 7
        report.records += 1
        report.streams[head.stream] = (head.seq, head.hash)
    # step 8: torn final line
    if torn:
        report.bytes += len(torn)
        raise Failure(None, line_no + 1, "torn final line (no newline): the writer crashed mid-record")
    # step 9: the exported checkpoint must still be there
    if expect is not None and not expected_seen:
        last = report.streams.get(expect.stream, (0, ""))[0]
        raise Failure(
            expect.seq,
            line_no,
            f"the trail ends at seq {last} but the exported checkpoint is at seq {expect.seq}: "
            "records were removed from the end",
        )
    # step 10: with a key, every stream holds a signed checkpoint
    if key is not None:
        if not report.stream_checkpoints:
            raise Failure(
                None,
                line_no,
                f"the trail has no checkpoint signed by the given public key: none of its {report.records} "
                "record(s) is covered by a signature",
            )
        for stream in sorted(report.streams, key=lambda s: s.encode("utf-8")):
            if stream not in report.stream_checkpoints:
                raise Failure(
                    None,
                    line_no,
                    f"stream `{stream}` has no checkpoint signed by the given public key: none of its "
                    f"{report.streams[stream][0]} record(s) is covered by a signature",
                )
    return report


# --------------------------------------------------------------------------------------- the CLI


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_trail.py", description="Verify a signoff audit trail (docs/audit-trail.md)."
    )
    parser.add_argument("trail", help="a JSONL file, sqlite:PATH or postgres://...")
    parser.add_argument("--pubkey", help="ed25519 public key: 64 hex digits or a file holding them")
    parser.add_argument("--checkpoint", help="an exported checkpoint file (signoff audit checkpoint)")
    parser.add_argument("--strict", action="store_true", help="also check canonical form and args digests")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        key = read_public_key(args.pubkey) if args.pubkey is not None else None
        expect = read_exported(args.checkpoint) if args.checkpoint is not None else None
        lines = trail_lines(args.trail)
        try:
            report: Optional[Report] = verify(lines, key, expect, args.strict)
            failure: Optional[Failure] = None
        except Failure as f:
            report, failure = None, f
    except Unreadable as e:
        sys.stderr.write(f"{e}\n")
        return USAGE
    if args.json:
        out: Dict[str, Any] = {"trail": args.trail, "ok": failure is None}
        if failure is not None:
            out.update(seq=failure.seq, line=failure.line, reason=failure.reason)
        elif report is not None:
            out.update(
                records=report.records,
                bytes=report.bytes,
                streams={s: {"seq": q, "hash": h} for s, (q, h) in report.streams.items()},
                checkpoints=report.checkpoints,
                signatures_verified=report.signatures_verified if key is not None else None,
                last_checkpoint=vars(report.last_checkpoint) if report.last_checkpoint else None,
                unsigned_tail=report.unsigned_tail(),
            )
        print(json.dumps(out, ensure_ascii=False))
        return OK if failure is None else TAMPERED
    if failure is not None:
        print(f"{args.trail}: TAMPERED — {failure}")
        return TAMPERED
    assert report is not None
    signed = f", {report.signatures_verified} signature(s) verified" if key is not None else ""
    print(
        f"{args.trail}: ok — {report.records} records, {report.bytes} bytes, {len(report.streams)} stream(s), "
        f"{report.checkpoints} checkpoint(s){signed}"
    )
    for stream in sorted(report.streams, key=lambda s: s.encode("utf-8")):
        seq, hash_ = report.streams[stream]
        print(f"  stream {stream}: last seq {seq}, hash {hash_}")
    if key is not None:
        for stream, n in report.unsigned_tail().items():
            print(f"  warning: stream {stream}: {n} record(s) after the last checkpoint are not covered by a signature")
    if expect is not None and key is None:
        last = report.streams.get(expect.stream, (0, ""))[0]
        if last > expect.seq:
            print(
                f"  warning: stream {expect.stream}: {last - expect.seq} record(s) after the exported checkpoint "
                f"(seq {expect.seq}) are not covered by it"
            )
    if key is None and expect is None:
        print(
            "  warning: without --pubkey or --checkpoint, deleting the newest records (or rewriting the whole "
            "trail) is undetectable"
        )
    return OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader stopped (`| head`): not an error of the trail
        sys.stderr.close()
        sys.exit(USAGE)
