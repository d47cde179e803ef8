"""Shared by the Python MCP tests: a gate config whose store is shared with
a real `signoff serve` (reviewers vote through its API), and the proxy's
command line in front of server-everything (stdio and Streamable HTTP)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

HERE = Path(__file__).parent
SIGNOFF = os.environ.get("SIGNOFF_BIN", str(HERE / "../../target/debug/signoff"))
EVERYTHING = str(HERE / "node_modules/@modelcontextprotocol/server-everything/dist/index.js")
NODE = shutil.which("node") or "node"
TOKEN = "mcp-py-reviewer-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(proc: subprocess.Popen[bytes], needles: list[str], what: str) -> None:
    """Reads the child's merged output until every needle was seen."""
    seen = ""
    done = threading.Event()

    def pump() -> None:
        nonlocal seen
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace")
            sys.stderr.write(line)
            seen += line
            if all(n in seen for n in needles):
                done.set()

    threading.Thread(target=pump, daemon=True).start()
    if not done.wait(30):
        raise RuntimeError(f"{what} did not start: {seen}")


class Fixture:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="signoff-mcp-py-"))
        shutil.copy(HERE / "fixtures/policy.toml", self.dir / "policy.toml")
        common = 'policy = "policy.toml"\nstore = "sqlite:signoff.db"\naudit = ["jsonl:audit.jsonl"]\n'
        (self.dir / "gate.toml").write_text(
            common
            + 'approver = "server"\n\n[identity]\nactor = "agent:mcp-client"\non_behalf_of = "user:alice@example.com"\n'
        )
        token_hash = subprocess.run([SIGNOFF, "token", "hash"], input=TOKEN.encode(), capture_output=True, check=True).stdout.decode().strip()
        port = free_port()
        (self.dir / "serve.toml").write_text(
            f'listen = "127.0.0.1:{port}"\n'
            + common.replace("audit.jsonl", "serve-audit.jsonl")
            + f'approver = "server"\n\n[[server.tokens]]\nprincipal = "user:carol@example.com"\ntoken_hash = "{token_hash}"\n'
        )
        self.base = f"http://127.0.0.1:{port}"
        self.children: list[subprocess.Popen[bytes]] = []
        serve = self.spawn([SIGNOFF, "serve", "--config", str(self.dir / "serve.toml")])
        wait_for(serve, ["listening on", "dispatching"], "signoff serve")

    @property
    def config(self) -> str:
        return str(self.dir / "gate.toml")

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.children.append(p)
        return p

    def proxy_argv(self, *extra: str) -> tuple[str, list[str]]:
        return SIGNOFF, ["mcp-proxy", "--config", self.config, "--name", "everything", *extra, "--", NODE, EVERYTHING, "stdio"]

    def http_upstream(self) -> str:
        port = free_port()
        p = self.spawn([NODE, EVERYTHING, "streamableHttp"], env={**os.environ, "PORT": str(port)})
        wait_for(p, ["listening on port"], "server-everything")
        return f"http://127.0.0.1:{port}/mcp"

    def http_proxy(self, upstream: str, *extra: str) -> str:
        port = free_port()
        p = self.spawn([SIGNOFF, "mcp-proxy", "--config", self.config, "--name", "web", "--listen", f"127.0.0.1:{port}", "--upstream", upstream, *extra])
        wait_for(p, ["listening on"], "signoff mcp-proxy")
        return f"http://127.0.0.1:{port}/mcp"

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def requests(self, status: str | None = None) -> list[dict[str, Any]]:
        r = self.api("/v1/requests" + (f"?status={status}" if status else ""))
        return r if isinstance(r, list) else r.get("requests", [])

    def pending(self, action: str, timeout: float = 15) -> dict[str, Any]:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            for r in self.requests("pending"):
                if r["action"] == action:
                    return r
            time.sleep(0.05)
        raise AssertionError(f"no pending request for {action}")

    def request(self, request_id: str) -> dict[str, Any]:
        return dict(self.api(f"/v1/requests/{request_id}"))

    def vote(self, request_id: str, verdict: str, **extra: Any) -> Any:
        return self.api(f"/v1/requests/{request_id}/votes", {"verdict": verdict, **extra})

    def trail(self) -> list[dict[str, Any]]:
        p = self.dir / "audit.jsonl"
        return [json.loads(l) for l in p.read_text().splitlines() if l] if p.exists() else []

    def stop(self) -> None:
        for p in reversed(self.children):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def fixture() -> Iterator[Fixture]:
    f = Fixture()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
