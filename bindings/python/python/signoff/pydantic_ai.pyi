"""Typed stub of signoff.pydantic_ai (Pydantic AI adapter)."""

from typing import Any, Callable, Dict, Literal, Mapping, Optional, Union

from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolDefinition

from ._adapters import ToolGate

__all__ = ["SignoffCapability"]

ThreadId = Union[None, str, Callable[[RunContext[Any]], Optional[str]]]

class SignoffCapability(AbstractCapability[Any]):
    mode: str
    thread_id: ThreadId
    core: ToolGate
    def __init__(
        self,
        gate: Any,
        *,
        mode: Literal["blocking", "durable"] = "blocking",
        prefix: str = "",
        action_name: Union[None, Mapping[str, str], Callable[[str], str]] = None,
        deadline: float = ...,
        on_deny: Literal["message", "raise"] = "message",
        thread_id: ThreadId = None,
    ) -> None: ...
    async def before_tool_execute(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Dict[str, Any]
    ) -> Dict[str, Any]: ...
    async def after_tool_execute(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Dict[str, Any], result: Any
    ) -> Any: ...
    async def on_tool_execute_error(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Dict[str, Any], error: Exception
    ) -> Any: ...
    def deferred_results(self, requests: DeferredToolRequests) -> DeferredToolResults: ...
    def pending(self, requests: DeferredToolRequests) -> Dict[str, str]: ...
