"""Trails for the verifier tests, written by every writer the project has:
the Rust CLI (`signoff demo`), the Python binding and the Node binding, into
JSONL files, SQLite and PostgreSQL, with signed checkpoints; and the two
verifiers side by side: `signoff audit verify` and docs/verify_trail.py.

Each trail is a `Source`: its lines as the storage holds them, and a way to
store tampered lines in a fresh place of the same kind (a file, a SQLite
database, a PostgreSQL database) so both verifiers read them as they read
the original."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

import verify_trail as vt  # noqa: E402  (the verifier under test, beside its document)

POLICY_FILE = ROOT / "tests" / "fixtures" / "bindings-gate.toml"


def signoff_cli() -> str:
    """The `signoff` binary: $SIGNOFF_BIN, or the workspace's debug build."""
    found = os.environ.get("SIGNOFF_BIN") or str(ROOT / "target" / "debug" / "signoff")
    if not os.path.exists(found):
        subprocess.run(["cargo", "build", "-q", "--locked", "-p", "signoff-cli"], cwd=ROOT, check=True)
    return found


# ------------------------------------------------------------------------- running both verifiers


@dataclass
class Verdict:
    """What one verifier said: exit code, first bad seq and line, and on success its summary."""

    code: int
    seq: Optional[int] = None
    line: Optional[int] = None
    summary: Optional[Tuple[str, ...]] = None
    streams: Dict[str, Tuple[int, str]] = field(default_factory=dict)
    unsigned: Dict[str, int] = field(default_factory=dict)
    text: str = ""

    @property
    def key(self) -> Tuple[int, Optional[int], Optional[int]]:
        return (self.code, self.seq, self.line)


_FAIL = re.compile(r": TAMPERED — (?:seq (\d+), )?line (\d+): ")
_OK = re.compile(r": ok — (\d+) records, (\d+) bytes, (\d+) stream\(s\), (\d+) checkpoint\(s\)(?:, (\d+) signature\(s\) verified)?")
_STREAM = re.compile(r"^  stream (.*): last seq (\d+), hash ([0-9a-f]{64})$")
_UNSIGNED = re.compile(r"^  warning: stream (.*): (\d+) record\(s\) after the last checkpoint")


def parse_output(code: int, stdout: str) -> Verdict:
    first = stdout.splitlines()[0] if stdout else ""
    v = Verdict(code=code, text=stdout)
    if code == 1:
        m = _FAIL.search(first)
        assert m, f"a failure names its line: {stdout!r}"
        v.seq = int(m.group(1)) if m.group(1) else None
        v.line = int(m.group(2))
    elif code == 0:
        m = _OK.search(first)
        assert m, f"a success prints its summary: {stdout!r}"
        v.summary = m.groups("")
        for text in stdout.splitlines()[1:]:
            if s := _STREAM.match(text):
                v.streams[s.group(1)] = (int(s.group(2)), s.group(3))
            elif u := _UNSIGNED.match(text):
                v.unsigned[u.group(1)] = int(u.group(2))
    return v


def options(pubkey: Optional[str], checkpoint: Optional[str]) -> List[str]:
    out: List[str] = []
    if pubkey:
        out += ["--pubkey", pubkey]
    if checkpoint:
        out += ["--checkpoint", checkpoint]
    return out


def run_cli(target: str, pubkey: Optional[str] = None, checkpoint: Optional[str] = None) -> Verdict:
    done = subprocess.run(
        [signoff_cli(), "audit", "verify", target, *options(pubkey, checkpoint)], capture_output=True, text=True
    )
    return parse_output(done.returncode, done.stdout)


def run_python(target: str, pubkey: Optional[str] = None, checkpoint: Optional[str] = None) -> Verdict:
    """docs/verify_trail.py, in this process (its command line is tested separately)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = vt.main([target, *options(pubkey, checkpoint)])
    return parse_output(code, out.getvalue())


def agree(
    target: str,
    pubkey: Optional[str] = None,
    checkpoint: Optional[str] = None,
    expect: Optional[Tuple[int, Optional[int], Optional[int]]] = None,
) -> Verdict:
    """Runs both verifiers; they must give the same verdict, first bad seq and
    line (and on success the same counts, stream heads and unsigned tails),
    and, when `expect` is given, exactly that (code, seq, line)."""
    cli = run_cli(target, pubkey, checkpoint)
    py = run_python(target, pubkey, checkpoint)
    assert py.key == cli.key, f"verify_trail.py said:\n{py.text}\nsignoff audit verify said:\n{cli.text}"
    if cli.code == 0:
        assert (py.summary, py.streams, py.unsigned) == (cli.summary, cli.streams, cli.unsigned), (
            f"verify_trail.py said:\n{py.text}\nsignoff audit verify said:\n{cli.text}"
        )
    if expect is not None:
        assert cli.key == expect, f"expected (code, seq, line) = {expect}, signoff audit verify said:\n{cli.text}"
    return cli


# ------------------------------------------------------------------------------------- storage


@dataclass
class Source:
    """One trail as written, and how to store a tampered copy like it."""

    name: str
    kind: str  # jsonl | sqlite | postgres
    target: str
    lines: List[bytes]
    store: Callable[[bytes], str]
    signed: bool


def sqlite_store(dir: pathlib.Path) -> Callable[[bytes], str]:
    def store(data: bytes) -> str:
        assert data == b"" or data.endswith(b"\n"), "a database holds no torn line"
        path = dir / f"tampered-{uuid.uuid4().hex[:8]}.db"
        conn = sqlite3.connect(path)
        # the sink's table without its UNIQUE index: whoever tampers can drop it
        conn.execute(
            "CREATE TABLE signoff_audit (pos INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,"
            " seq INTEGER NOT NULL, line TEXT NOT NULL)"
        )
        for i, line in enumerate(data.split(b"\n")[:-1]):
            conn.execute("INSERT INTO signoff_audit (stream, seq, line) VALUES ('', ?, ?)", (i, line.decode("utf-8")))
        conn.commit()
        conn.close()
        return f"sqlite:{path}"

    return store


def sqlite_read(path: pathlib.Path) -> List[bytes]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes
    rows = [r[0] for r in conn.execute("SELECT line FROM signoff_audit ORDER BY pos")]
    conn.close()
    return rows


class Postgres:
    """Fresh databases on the test cluster (scripts/pg-cluster), dropped at the end."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.base = admin.rsplit("/", 1)[0]
        self.made: List[str] = []
        self.scratch: Optional[str] = None

    def psql(self, url: str, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
            input=sql.encode("utf-8"),
            capture_output=True,
            env=dict(os.environ, PGCLIENTENCODING="UTF8"),
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode("utf-8")

    def fresh(self) -> str:
        name = f"signoff_verifier_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self.psql(self.admin, f"CREATE DATABASE {name};")
        self.made.append(name)
        return f"{self.base}/{name}"

    def schema(self) -> str:
        """A new schema in one scratch database, as a URL whose search_path
        is that schema (cheaper than a database per tampered trail)."""
        if self.scratch is None:
            self.scratch = self.fresh()
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(self.scratch, f"CREATE SCHEMA {name};")
        sep = "&" if "?" in self.scratch else "?"
        return f"{self.scratch}{sep}options=-csearch_path%3D{name}"

    def store(self, data: bytes) -> str:
        assert data == b"" or data.endswith(b"\n"), "a database holds no torn line"
        url = self.schema()

        def literal(b: bytes) -> str:
            return "'" + b.decode("utf-8").replace("'", "''") + "'"

        rows = [f"('', {i}, {literal(line)})" for i, line in enumerate(data.split(b"\n")[:-1])]
        sql = "CREATE TABLE signoff_audit (pos BIGSERIAL PRIMARY KEY, stream TEXT NOT NULL, seq BIGINT NOT NULL, line TEXT NOT NULL);\n"
        if rows:
            sql += "INSERT INTO signoff_audit (stream, seq, line) VALUES " + ",\n".join(rows) + ";\n"
        self.psql(url, sql)
        return url

    def read(self, url: str) -> List[bytes]:
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", "SELECT line FROM signoff_audit ORDER BY pos"],
            capture_output=True,
            env=dict(os.environ, PGCLIENTENCODING="UTF8"),
            check=True,
        ).stdout
        return out.split(b"\n")[:-1]

    def drop_all(self) -> None:
        self.psql(self.admin, "".join(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);\n" for name in self.made))


# -------------------------------------------------------------------------------------- writers


AWKWARD = {
    # numbers and strings whose canonical spelling differs between serializers
    "n": [1e-7, -0.0, 1e-5, 1e-6, 1e21, 1e16, 1e15, 1.5, 100.0, 0.1, 5e-324, 2.2250738585072014e-308,
          12345678901234567.0, 2**64 - 1, -(2**63), 3, -1, 123456.789, 1.8446744073709552e19],
    "s": "é\u007f\u0001/\u2028😀\"\\\t\n",
    "k": {"\uffff": 1, "😀": 2, "Z": 3, "a": 4, "é": 5},
}


def python_round(gate: object, i: int) -> None:
    """Allowed, denied, approved (a rejected self-approval, an args edit) and redacted actions."""
    import signoff

    assert isinstance(gate, signoff.Gate)
    gate.require("db.query", actor="agent:python", args={"sql": "select 1", "round": i, **AWKWARD}).complete()
    with pytest.raises(signoff.Denied):
        gate.require("sql.exec", actor="agent:python", args={"sql": "DROP TABLE users"})
    pending = gate.submit("db.export", actor="agent:billing-bot", on_behalf_of="user:alice@example.com", env="prod",
                          args={"rows": 50_000 + i, "password": "hunter2", "api_token": "t0k"})
    assert isinstance(pending, signoff.Pending)
    with pytest.raises(signoff.VoteRejected):
        gate.vote(pending.request_id, "user:alice@example.com")
    gate.vote(pending.request_id, "user:carol@example.com", comment="fewer rows, \"please\"",
              args={"rows": 40_000, "password": "hunter2"})
    gate.vote(pending.request_id, "user:dan@example.com")
    gate.resume(pending.request_id).complete(ok=False, detail="disk full\n")
    gate.close()  # flushes and signs the head


def python_trail(target: str, stream: str, rounds: int, key: Optional[pathlib.Path]) -> object:
    import signoff

    policy = signoff.Policy.from_toml(POLICY_FILE.read_text())
    gate = signoff.Gate(policy, audit=target, approver="queue", stream=stream, checkpoint_key_file=key)
    for i in range(rounds):
        python_round(gate, i)
    return gate


def node_trail(target: str, stream: str, rounds: int, key: Optional[pathlib.Path]) -> None:
    cmd = ["node", str(ROOT / "tests" / "verifier" / "write_trail.js"), target, str(rounds), stream]
    if key:
        cmd.append(str(key))
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


LIFECYCLE = """
[policy]
name = "lifecycle"
default = "deny"
break_glass = { approvers = "oncall" }

[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com"]
oncall = ["user:erin@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
max_grant = "1h"
timeout = "20s"
"""


def lifecycle_trail(target: str, key: pathlib.Path) -> None:
    """The newer events (DESIGN §12, §13): a shadow policy that differs, a grant
    created, a grant used, a break-glass approval."""
    import signoff

    shadow = signoff.Policy.from_toml(LIFECYCLE.replace('effect = "allow"', 'effect = "deny"'))
    gate = signoff.Gate(signoff.Policy.from_toml(LIFECYCLE), audit=target, approver="queue", stream="lifecycle",
                        shadow=shadow, checkpoint_key_file=key)
    gate.require("db.query", actor="agent:x", args={"sql": "select 1"}).complete()
    pending = gate.submit("db.export", actor="agent:x", env="prod", args={"rows": 5})
    assert isinstance(pending, signoff.Pending)
    gate.vote(pending.request_id, "user:carol@example.com", grant="30m")
    gate.resume(pending.request_id).complete()
    gate.require("db.export", actor="agent:x", env="prod", args={"rows": 6}).complete()  # the grant covers it
    pending = gate.submit("db.export", actor="agent:y", env="prod", args={"rows": 7})
    assert isinstance(pending, signoff.Pending)
    gate.vote(pending.request_id, "user:erin@example.com", comment="INC-1: prod is down", break_glass=True)
    gate.resume(pending.request_id).complete()
    gate.close()


@dataclass
class Keys:
    secret: pathlib.Path
    public: pathlib.Path
    other_public: pathlib.Path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    made = []
    for name in ("checkpoint", "other"):
        dir = tmp_path_factory.mktemp(f"key-{name}")
        key = dir / "checkpoint.key"
        done = subprocess.run([signoff_cli(), "audit", "keygen", "--out", str(key)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        made.append((key, dir / "checkpoint.key.pub"))
    return Keys(made[0][0], made[0][1], made[1][1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    admin = os.environ.get("SIGNOFF_TEST_DATABASE_URL")
    if not admin:
        if os.environ.get("CI") == "true":
            pytest.fail("SIGNOFF_TEST_DATABASE_URL is not set (scripts/test starts a cluster)")
        pytest.skip("no PostgreSQL: set SIGNOFF_TEST_DATABASE_URL (scripts/test starts a cluster)")
    if shutil.which("psql") is None:
        pytest.fail("psql is needed to read PostgreSQL trails")
    pg = Postgres(admin)
    yield pg
    pg.drop_all()


SOURCES = {
    # name: (kind, signed, several streams)
    "rust-demo": ("jsonl", False, False),
    "python-jsonl": ("jsonl", True, False),
    "python-two-streams": ("jsonl", True, True),
    "node-jsonl": ("jsonl", True, False),
    "python-lifecycle": ("jsonl", True, False),
    "sqlite-python-node": ("sqlite", True, True),
    "postgres-python-node": ("postgres", True, True),
}

# a stream name a line must escape
ESCAPED_STREAM = 'host\\worker "a"\t1'


def jsonl_store(dir: pathlib.Path) -> Callable[[bytes], str]:
    def store(data: bytes) -> str:
        path = dir / f"tampered-{uuid.uuid4().hex[:8]}.jsonl"
        path.write_bytes(data)
        return str(path)

    return store


def build_source(name: str, dir: pathlib.Path, keys: Keys, request: pytest.FixtureRequest) -> Source:
    kind, signed, _ = SOURCES[name]
    if name == "rust-demo":
        path = dir / "demo.jsonl"
        done = subprocess.run([signoff_cli(), "demo", "--audit", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return Source(name, kind, str(path), path.read_bytes().split(b"\n")[:-1], jsonl_store(dir), signed)
    if name == "python-jsonl":
        path = dir / "python.jsonl"
        python_trail(str(path), "py-agent", 3, keys.secret)
        return Source(name, kind, str(path), path.read_bytes().split(b"\n")[:-1], jsonl_store(dir), signed)
    if name == "python-two-streams":
        # two live writers of one file: each its own stream, records interleaved
        path = dir / "two.jsonl"
        first = python_trail(str(path), "agent-a", 1, keys.secret)
        second = python_trail(str(path), ESCAPED_STREAM, 2, keys.secret)
        python_round(first, 1)
        del first, second
        return Source(name, kind, str(path), path.read_bytes().split(b"\n")[:-1], jsonl_store(dir), signed)
    if name == "node-jsonl":
        path = dir / "node.jsonl"
        node_trail(str(path), "node-agent", 3, keys.secret)
        return Source(name, kind, str(path), path.read_bytes().split(b"\n")[:-1], jsonl_store(dir), signed)
    if name == "python-lifecycle":
        path = dir / "lifecycle.jsonl"
        lifecycle_trail(str(path), keys.secret)
        return Source(name, kind, str(path), path.read_bytes().split(b"\n")[:-1], jsonl_store(dir), signed)
    if name == "sqlite-python-node":
        db = dir / "trail.db"
        target = f"sqlite:{db}"
        first = python_trail(target, "py-1", 1, keys.secret)
        node_trail(target, "node-1", 2, keys.secret)
        python_round(first, 1)
        del first
        return Source(name, kind, target, sqlite_read(db), sqlite_store(dir), signed)
    if name == "postgres-python-node":
        pg: Postgres = request.getfixturevalue("postgres")
        url = pg.fresh()
        first = python_trail(url, "py-1", 1, keys.secret)
        node_trail(url, "node-1", 2, keys.secret)
        python_round(first, 1)
        del first
        return Source(name, kind, url, pg.read(url), pg.store, signed)
    raise AssertionError(name)


_BUILT: Dict[str, Source] = {}


@pytest.fixture
def source(request: pytest.FixtureRequest, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The trail named by the test's `source_name` parameter, written once per session."""
    name = request.param if hasattr(request, "param") else request.getfixturevalue("source_name")
    if name not in _BUILT:
        _BUILT[name] = build_source(name, tmp_path_factory.mktemp(name), keys, request)
    return _BUILT[name]
