"""asyncio glue for the native module (internal)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable


def run(awaitable: Awaitable[Any]) -> Any:
    """Runs an awaitable returned by an async approver, on a worker thread."""

    async def main() -> Any:
        return await awaitable

    return asyncio.run(main())


def resolve(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    """Settles an asyncio future from the runtime thread (via call_soon_threadsafe)."""
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
