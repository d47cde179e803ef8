"""signoff mcp-proxy between the official Python `mcp` client SDK and
server-everything (stdio and Streamable HTTP), both unmodified."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import Fixture

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def stdio_session(f: Fixture, *extra: str) -> AsyncIterator[ClientSession]:
    command, args = f.proxy_argv(*extra)
    async with stdio_client(StdioServerParameters(command=command, args=args)) as streams:
        async with ClientSession(*streams[:2]) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as streams:
        async with ClientSession(*streams[:2]) as session:
            await session.initialize()
            yield session


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content)


async def until_pending(f: Fixture, action: str) -> dict[str, Any]:
    return await asyncio.to_thread(f.pending, action)


async def test_stdio_allowed_denied_and_default(fixture: Fixture) -> None:
    async with stdio_session(fixture) as s:
        r = await s.call_tool("echo", {"message": "from python"})
        assert not r.is_error and text(r) == "Echo: from python"
        d = await s.call_tool("get-env", {})
        assert d.is_error
        assert text(d) == "signoff: denied (rule no-env): environment variables hold secrets"
        tools = (await s.list_tools()).tools
        assert len(tools) >= 10


async def test_stdio_approval_released_by_a_vote(fixture: Fixture) -> None:
    async with stdio_session(fixture) as s:
        call = asyncio.ensure_future(s.call_tool("get-sum", {"a": 250, "b": 5}))
        req = await until_pending(fixture, "mcp.everything.get-sum")
        assert req["args"] == {"a": 250, "b": 5}
        await asyncio.to_thread(fixture.vote, req["id"], "approve")
        assert text(await call) == "The sum of 250 and 5 is 255."
    done = [r for r in fixture.trail() if r["event"] == "action.completed" and r["action"] == "mcp.everything.get-sum"]
    assert done and done[-1]["outcome"] == "success"


async def test_stdio_cancel_withdraws_and_max_wait_denies(fixture: Fixture) -> None:
    async with stdio_session(fixture, "--max-wait", "2s") as s:
        # abandoning the call sends notifications/cancelled: the request is withdrawn
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await asyncio.wait_for(s.call_tool("get-sum", {"a": 600, "b": 6}), timeout=0.8)
        withdrawn = [r for r in fixture.requests() if r["action"] == "mcp.everything.get-sum" and r["args"] == {"a": 600, "b": 6}]
        assert withdrawn
        for _ in range(100):
            if fixture.request(withdrawn[0]["id"])["status"] == "cancelled":
                break
            await asyncio.sleep(0.05)
        assert fixture.request(withdrawn[0]["id"])["status"] == "cancelled"
        started = time.monotonic()
        r = await s.call_tool("get-sum", {"a": 601, "b": 6})
        assert time.monotonic() - started < 10
        assert r.is_error
        assert text(r).startswith("signoff: denied (rule big-sums): no decision within 2s; approval request ")


async def test_stdio_resources_and_prompts(fixture: Fixture) -> None:
    async with stdio_session(fixture) as s:
        resources = (await s.list_resources()).resources
        assert resources
        contents = (await s.read_resource(resources[0].uri)).contents
        assert contents
        prompts = (await s.list_prompts()).prompts
        assert any(p.name == "simple-prompt" for p in prompts)
        assert (await s.get_prompt("simple-prompt")).messages


async def test_http_allowed_denied_approved_and_resources(fixture: Fixture) -> None:
    upstream = fixture.http_upstream()
    url = fixture.http_proxy(upstream)
    async with http_session(url) as s:
        assert text(await s.call_tool("echo", {"message": "web"})) == "Echo: web"
        d = await s.call_tool("get-env", {})
        assert d.is_error and text(d).startswith("signoff: denied (rule no-env)")
        call = asyncio.ensure_future(s.call_tool("get-sum", {"a": 700, "b": 7}))
        req = await until_pending(fixture, "mcp.web.get-sum")
        await asyncio.to_thread(fixture.vote, req["id"], "approve")
        assert text(await call) == "The sum of 700 and 7 is 707."
        assert (await s.list_resources()).resources
        assert (await s.get_prompt("simple-prompt")).messages
