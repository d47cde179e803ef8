"""Server-dispatched approvals end to end (DESIGN §10), from the installed
package: an agent with ``approver = "server"`` and a SQLite store, a real
``signoff serve --config`` subprocess with ``[slack]`` pointed at a local fake
Slack Web API that records calls, and Slack-signed clicks on the server."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import signoff

SECRET = "slack-signing-secret-for-tests"

POLICY = """
[policy]
name = "dispatch"

[groups]
owners = ["user:carol@example.com", "user:dan@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["fs.read"]

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
timeout = "10m"
risk = "high"
reason = "bulk export of production data"

[[rules]]
id = "quick"
effect = "approve"
actions = ["db.quick"]
approvers = "owners"
timeout = "2s"
"""


class FakeSlack:
    """A local Slack Web API that records calls; `fail` makes it answer 500."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.fail = False
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length).decode()
                try:
                    body = json.loads(raw) if raw.startswith("{") else dict(urllib.parse.parse_qsl(raw))
                except ValueError:
                    body = {"raw": raw}
                method = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.calls.append((method, body))
                if fake.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                if method == "chat.postMessage":
                    n = sum(1 for m, _ in fake.calls if m == "chat.postMessage")
                    answer = {"ok": True, "channel": "C1", "ts": f"1700000000.{n:06d}"}
                elif method == "users.info":
                    answer = {"ok": True, "user": {"id": "U1", "profile": {"email": "carol@example.com"}}}
                else:
                    answer = {"ok": True}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, method: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [b for m, b in self.calls if m == method]

    def wait(self, method: str, n: int, timeout: float = 15.0) -> List[Dict[str, Any]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.of(method)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"fewer than {n} {method} calls: {self.calls}")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def write_config(tmp: pathlib.Path, slack_url: str, port: int) -> pathlib.Path:
    (tmp / "policy.toml").write_text(POLICY)
    cfg = tmp / "gate.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:{port}"
policy = "policy.toml"
store = "sqlite:{tmp / 'signoff.db'}"
audit = ["jsonl:{tmp / 'audit.jsonl'}"]
approver = "server"

[identity]
actor = "agent:billing-bot"
on_behalf_of = "user:alice@example.com"
env = "prod"

[dispatch]
max_silence = "5s"
lease = "5s"

[server]
tokens = []

[slack]
api_base = "{slack_url}"
bot_token_env = "SIGNOFF_TEST_SLACK_TOKEN"
signing_secret_env = "SIGNOFF_TEST_SLACK_SECRET"
default_channel = "#approvals"
page_url = "http://127.0.0.1:{port}"
lookup_emails = false
attempts = 2
timeout_ms = 1000

[slack.users]
U1 = "user:carol@example.com"
U2 = "user:dan@example.com"

[teams]
webhook_url_env = "SIGNOFF_TEST_TEAMS_URL"
page_url = "http://127.0.0.1:{port}"

[routes]
to = {{ export = ["slack", "teams"] }}
fallback = ["slack"]
"""
    )
    return cfg


@pytest.fixture()
def world(tmp_path: pathlib.Path) -> Iterator[Dict[str, Any]]:
    slack = FakeSlack()
    teams = FakeSlack()  # records the Workflows webhook's cards the same way
    port = free_port()
    cfg = write_config(tmp_path, slack.url, port)
    env = dict(
        os.environ,
        SIGNOFF_TEST_SLACK_TOKEN="xoxb-test",
        SIGNOFF_TEST_SLACK_SECRET=SECRET,
        SIGNOFF_TEST_TEAMS_URL=teams.url + "/workflows/card",
    )
    os.environ["SIGNOFF_TEST_SLACK_TOKEN"] = "xoxb-test"
    os.environ["SIGNOFF_TEST_SLACK_SECRET"] = SECRET
    server = subprocess.Popen(
        [os.environ["SIGNOFF_BIN"], "serve", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                raise AssertionError(f"signoff serve did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.05)
    # the dispatcher beats within a second of starting
    time.sleep(1.2)
    try:
        yield {"slack": slack, "teams": teams, "cfg": cfg, "url": url, "server": server, "dir": tmp_path}
    finally:
        server.terminate()
        server.wait(timeout=10)


def click(url: str, user: str, verdict: str, value: str, ts: Optional[int] = None) -> int:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": f"signoff_{verdict}", "value": value}],
        "response_url": url + "/respond-nowhere",
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    stamp = str(ts or int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        url + "/slack/interactivity",
        data=body.encode(),
        headers={
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": sig,
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        status: int = r.status
        return status


def button_value(post: Dict[str, Any]) -> str:
    for block in post["blocks"]:
        for el in block.get("elements", []):
            if el.get("action_id") == "signoff_approve":
                value: str = el["value"]
                return value
    raise AssertionError(f"no approve button in {post}")


def has_buttons(message: Dict[str, Any]) -> bool:
    return any(el.get("type") == "button" and el.get("action_id", "").startswith("signoff_")
               for b in message.get("blocks", []) for el in b.get("elements", []))


def test_a_dispatched_request_is_posted_once_approved_by_a_signed_click_and_updated(world: Dict[str, Any]) -> None:
    gate = signoff.Gate.from_config(world["cfg"])
    result: Dict[str, Any] = {}

    def agent() -> None:
        try:
            result["permit"] = gate.require("db.export", args={"rows": 50_000}, justification="monthly churn report")
        except signoff.SignoffError as e:  # pragma: no cover - reported below
            result["error"] = e

    t = threading.Thread(target=agent)
    t.start()
    post = world["slack"].wait("chat.postMessage", 1)[0]
    text = json.dumps(post)
    for needle in ["db.export", "agent:billing-bot", "user:alice@example.com", "prod", "monthly churn report",
                   "bulk export of production data", "export"]:
        assert needle in text, needle
    value = button_value(post)
    assert click(world["url"], "U1", "approve", value) == 200
    t.join(timeout=15)
    assert "permit" in result, result
    result["permit"].complete(ok=True)
    # posted exactly once; the message is updated to the resolution, without buttons
    updates = world["slack"].wait("chat.update", 1)
    deadline = time.time() + 10
    while has_buttons(world["slack"].of("chat.update")[-1]) and time.time() < deadline:
        time.sleep(0.05)
    last = world["slack"].of("chat.update")[-1]
    assert not has_buttons(last), last
    assert "approved" in json.dumps(last).lower()
    assert len(world["slack"].of("chat.postMessage")) == 1
    assert updates[0]["ts"] == "1700000000.000001"
    # the same request reached Teams, once, as a card whose links open this
    # server's page for that request
    cards = world["teams"].wait("card", 1)
    assert len(cards) == 1
    request_id = value.split("|")[0]
    page = f"{world['url']}/requests/{request_id}"
    assert page in json.dumps(cards[0]), cards[0]
    assert cards[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    with urllib.request.urlopen(page, timeout=5) as r:
        assert r.status == 200  # the page (its login form until signed in)


def test_a_request_that_expires_in_the_agent_shows_it_expired(world: Dict[str, Any]) -> None:
    gate = signoff.Gate.from_config(world["cfg"])
    with pytest.raises(signoff.ApprovalTimeout):
        gate.require("db.quick", args={"n": 1})
    deadline = time.time() + 10
    while time.time() < deadline:
        updates = world["slack"].of("chat.update")
        if updates and "expired" in json.dumps(updates[-1]).lower():
            break
        time.sleep(0.05)
    last = world["slack"].of("chat.update")[-1]
    assert "expired" in json.dumps(last).lower(), last
    assert not has_buttons(last)


def test_slack_failing_cancels_the_request_and_the_agent_gets_the_approver_error(world: Dict[str, Any]) -> None:
    world["slack"].fail = True
    gate = signoff.Gate.from_config(world["cfg"])
    started = time.time()
    with pytest.raises(signoff.ApproverError):
        gate.require("db.export", args={"rows": 5})
    assert time.time() - started < 15
    gate.close()
    trail = (world["dir"] / "audit.jsonl").read_text()
    assert "approver failed" in trail


def test_without_a_dispatcher_the_agent_fails_at_once_naming_the_store(tmp_path: pathlib.Path) -> None:
    slack = FakeSlack()
    cfg = write_config(tmp_path, slack.url, free_port())
    gate = signoff.Gate.from_config(cfg)
    started = time.time()
    with pytest.raises(signoff.ApproverError) as err:
        gate.require("db.export", args={"rows": 5})
    assert time.time() - started < 5
    assert "signoff.db" in str(err.value) and "dispatch" in str(err.value)
    # allowed actions need no dispatcher, and take the identity from the file
    permit = gate.require("fs.read")
    permit.complete()


def test_7_refused_votes_are_audited_and_the_page_cannot_be_framed(world: Dict[str, Any]) -> None:
    """Issue 11 item 7 and the page headers, through a real `signoff serve`."""
    gate = signoff.Gate.from_config(world["cfg"])
    rid = gate.submit("db.export", args={"rows": 5})
    assert isinstance(rid, signoff.Pending)
    url = f"{world['url']}/v1/requests/{rid.request_id}/votes"

    def post(body: bytes, headers: Dict[str, str]) -> int:
        req = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    vote = json.dumps({"verdict": "approve"}).encode()
    assert post(vote, {}) == 401
    assert post(vote, {"authorization": "Bearer guessed-token-123"}) == 401
    assert post(b'["approve"]', {"authorization": "Bearer guessed-token-123"}) == 401
    with urllib.request.urlopen(world["url"] + "/", timeout=5) as page:
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    world["server"].terminate()
    world["server"].wait(timeout=10)
    trail = (world["dir"] / "audit.jsonl").read_text()
    refused = [json.loads(l) for l in trail.splitlines() if '"approval.vote_rejected"' in l]
    outcomes = {r.get("outcome") for r in refused}
    assert {"unauthenticated", "bad_token"} <= outcomes, outcomes
    assert "guessed-token-123" not in trail
