"""Typed stub of signoff.crewai (CrewAI adapter, blocking only)."""

from typing import Any, Callable, List, Literal, Mapping, Optional, Sequence, Union

from crewai.hooks import ToolCallHookContext

from ._adapters import ToolGate

__all__ = ["SignoffHooks", "install"]

class SignoffHooks:
    core: ToolGate
    tools: Optional[List[str]]
    agents: Optional[List[str]]
    def __init__(
        self,
        gate: Any,
        *,
        prefix: str = "",
        action_name: Union[None, Mapping[str, str], Callable[[str], str]] = None,
        deadline: float = ...,
        on_deny: Literal["message"] = "message",
        tools: Optional[Sequence[str]] = None,
        agents: Optional[Sequence[str]] = None,
    ) -> None: ...
    def install(self) -> SignoffHooks: ...
    def uninstall(self) -> None: ...
    def __enter__(self) -> SignoffHooks: ...
    def __exit__(self, *exc: Any) -> None: ...
    def before_tool_call(self, ctx: ToolCallHookContext) -> Optional[bool]: ...
    def after_tool_call(self, ctx: ToolCallHookContext) -> Optional[str]: ...

def install(
    gate: Any,
    *,
    prefix: str = "",
    action_name: Union[None, Mapping[str, str], Callable[[str], str]] = None,
    deadline: float = ...,
    tools: Optional[Sequence[str]] = None,
    agents: Optional[Sequence[str]] = None,
) -> SignoffHooks: ...
