"""Typed stub of signoff.langchain (LangChain v1 / LangGraph adapter)."""

from typing import Any, Awaitable, Callable, Iterable, Literal, Mapping, Optional, Union

from langchain.agents.middleware import AgentMiddleware, ToolCallRequest
from langchain_core.messages import ToolMessage
from langgraph.types import Command, Interrupt

from ._adapters import ToolGate

__all__ = ["SignoffMiddleware", "resume_command"]

ThreadId = Union[None, str, Callable[[ToolCallRequest], Optional[str]]]
ToolResult = Union[ToolMessage, Command[Any]]

def resume_command(interrupts: Iterable[Interrupt]) -> Command[Any]: ...

class SignoffMiddleware(AgentMiddleware):
    mode: str
    thread_id: ThreadId
    core: ToolGate
    def __init__(
        self,
        gate: Any,
        *,
        mode: Literal["blocking", "interrupt"] = "blocking",
        prefix: str = "",
        action_name: Union[None, Mapping[str, str], Callable[[str], str]] = None,
        deadline: float = ...,
        on_deny: Literal["message", "raise"] = "message",
        thread_id: ThreadId = None,
    ) -> None: ...
    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult: ...
    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]
    ) -> ToolResult: ...
