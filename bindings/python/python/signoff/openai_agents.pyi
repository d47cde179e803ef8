"""Typed stub of signoff.openai_agents (OpenAI Agents SDK adapter)."""

from typing import Any, Callable, Iterable, List, Literal, Mapping, Optional, Union

from agents import FunctionTool, RunState, Tool, ToolInputGuardrail
from agents.items import ToolApprovalItem

from ._adapters import ToolGate

__all__ = ["SignoffGuard"]

ThreadId = Union[None, str, Callable[[Any], Optional[str]]]

class SignoffGuard:
    mode: str
    thread_id: ThreadId
    core: ToolGate
    input_guardrail: ToolInputGuardrail[Any]
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
    def tool(self, tool: FunctionTool) -> FunctionTool: ...
    def tools(self, tools: Iterable[FunctionTool]) -> List[Tool]: ...
    async def resolve(self, state: RunState[Any, Any]) -> List[ToolApprovalItem]: ...
