"""signoff for CrewAI (blocking only: CrewAI has no pause and resume).

``install(gate)`` registers a ``before_tool_call`` hook (and its
``after_tool_call`` partner) for the whole process:

    from signoff.crewai import install

    hooks = install(gate)          # every tool call of every crew is gated
    crew.kickoff()
    hooks.uninstall()              # or: with install(gate): ...

The before hook waits for the decision within ``deadline`` seconds and
edits the tool's input in place when a reviewer changed the args; a refusal
blocks the call, and the after hook replaces CrewAI's generic "blocked by
hook" text with signoff's reason, so the model reads why. The after hook
also completes the permit with the tool's outcome.

**Action ids.** CrewAI gives no tool-call id, so the id is derived from the
task id, the tool name and the canonical JSON of the arguments, plus a count
of the times that call has already run in this process. A retry of a call
that did not run (refused, timed out, or still pending in another thread)
finds the same request, never a second one; once it has run, the same call
again is a new action. This cannot tell a deliberate repeat of a call that
never ran from a retry (both follow the first request), cannot link calls
across processes or across tasks, and treats a call whose arguments changed
as a new call.

CrewAI swallows exceptions raised in hooks (and then runs the tool), so the
hooks here never raise: every error blocks the call, and ``on_deny="raise"``
is refused.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from ._adapters import (
    DEFAULT_DEADLINE,
    ActionName,
    Allowed,
    Refused,
    ToolCall,
    ToolGate,
    import_framework,
)

import_framework("crewai.hooks", "crewai", "crewai", "CrewAI")

from crewai.hooks import (  # noqa: E402
    ToolCallHookContext,
    register_after_tool_call_hook,
    register_before_tool_call_hook,
    unregister_after_tool_call_hook,
    unregister_before_tool_call_hook,
)

__all__ = ["SignoffHooks", "install"]

FRAMEWORK = "crewai"
#: CrewAI's own text for a tool that raised (its native and text paths).
_TOOL_ERROR_PREFIXES = ("Error executing tool", "Error: ")


@dataclass
class _Open:
    """A decision waiting for its after hook, tied to the very input dict."""

    tool_input: Dict[str, Any]
    outcome: Union[Allowed, Refused]
    base: str


class SignoffHooks:
    """The ``before_tool_call`` / ``after_tool_call`` pair gating CrewAI
    tool calls. ``tools`` and ``agents`` (roles) limit which calls are gated;
    ``prefix`` and ``action_name`` map tool names to action names;
    ``deadline`` (seconds) bounds each wait."""

    def __init__(
        self,
        gate: Any,
        *,
        prefix: str = "",
        action_name: ActionName = None,
        deadline: float = DEFAULT_DEADLINE,
        on_deny: str = "message",
        tools: Optional[Sequence[str]] = None,
        agents: Optional[Sequence[str]] = None,
    ) -> None:
        if on_deny != "message":
            raise ValueError(
                "signoff.crewai supports on_deny=`message` only: CrewAI swallows exceptions raised in hooks and runs the tool"
            )
        self.core = ToolGate(gate, FRAMEWORK, prefix=prefix, action_name=action_name, deadline=deadline)
        self.tools = list(tools) if tools is not None else None
        self.agents = list(agents) if agents is not None else None
        self._lock = threading.Lock()
        self._open: List[_Open] = []
        self._runs: Dict[str, int] = {}
        self._installed = False

    # ------------------------------------------------------------ lifecycle

    def install(self) -> "SignoffHooks":
        """Registers both hooks for the whole process."""
        if not self._installed:
            register_before_tool_call_hook(self.before_tool_call)
            register_after_tool_call_hook(self.after_tool_call)
            self._installed = True
        return self

    def uninstall(self) -> None:
        """Removes both hooks."""
        if self._installed:
            unregister_before_tool_call_hook(self.before_tool_call)
            unregister_after_tool_call_hook(self.after_tool_call)
            self._installed = False

    def __enter__(self) -> "SignoffHooks":
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    # ------------------------------------------------------------ hooks

    def before_tool_call(self, ctx: ToolCallHookContext) -> Optional[bool]:
        """Decides the call; ``False`` blocks it. Never raises."""
        try:
            if not self._applies(ctx):
                return None
            call, base = self._call(ctx)
            decision = self.core.decide(call)
            if isinstance(decision, Allowed) and decision.edited:
                ctx.tool_input.clear()
                ctx.tool_input.update(decision.args)
            with self._lock:
                self._open.append(_Open(ctx.tool_input, decision, base))
            return None if isinstance(decision, Allowed) else False
        except Exception:
            return False

    def after_tool_call(self, ctx: ToolCallHookContext) -> Optional[str]:
        """For a refused call, the text the model reads instead of CrewAI's
        generic one; for an allowed call, completes its permit."""
        try:
            opened = self._close(ctx.tool_input)
            if opened is None:
                return None
            if isinstance(opened.outcome, Refused):
                return opened.outcome.message
            failed = _failed(ctx)
            ToolGate.complete(opened.outcome.permit, ok=not failed, detail=str(ctx.tool_result) if failed else None)
            with self._lock:
                self._runs[opened.base] = self._runs.get(opened.base, 0) + 1
            return None
        except Exception:
            return None

    # ------------------------------------------------------------ helpers

    def _applies(self, ctx: ToolCallHookContext) -> bool:
        if self.tools is not None and ctx.tool_name not in self.tools:
            return False
        if self.agents is not None and getattr(ctx.agent, "role", None) not in self.agents:
            return False
        return True

    def _call(self, ctx: ToolCallHookContext) -> "tuple[ToolCall, str]":
        args = dict(ctx.tool_input or {})
        digest = hashlib.sha256(json.dumps(args, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
        task = getattr(getattr(ctx, "task", None), "id", None)
        crew = getattr(getattr(ctx, "crew", None), "id", None)
        thread = str(task) if task is not None else None
        base = f"{thread}:{ctx.tool_name}:{digest}"
        with self._lock:
            run = self._runs.get(base, 0)
        call_id = f"{ctx.tool_name}:{digest}" + (f"#{run + 1}" if run else "")
        extra: Dict[str, Any] = {}
        if crew is not None:
            extra["crew_id"] = str(crew)
        role = getattr(getattr(ctx, "agent", None), "role", None)
        if isinstance(role, str):
            extra["agent_role"] = role
        call = ToolCall(framework=FRAMEWORK, tool=ctx.tool_name, args=args, call_id=call_id, thread_id=thread, extra=extra)
        return call, base

    def _close(self, tool_input: Dict[str, Any]) -> Optional[_Open]:
        with self._lock:
            for i, opened in enumerate(self._open):
                if opened.tool_input is tool_input:
                    return self._open.pop(i)
        return None


def _failed(ctx: ToolCallHookContext) -> bool:
    raw = ctx.raw_tool_result
    return isinstance(raw, str) and raw.startswith(_TOOL_ERROR_PREFIXES) and raw == ctx.tool_result


def install(
    gate: Any,
    *,
    prefix: str = "",
    action_name: ActionName = None,
    deadline: float = DEFAULT_DEADLINE,
    tools: Optional[Sequence[str]] = None,
    agents: Optional[Sequence[str]] = None,
) -> SignoffHooks:
    """Gates CrewAI tool calls in this process; returns the installed hooks."""
    return SignoffHooks(gate, prefix=prefix, action_name=action_name, deadline=deadline, tools=tools, agents=agents).install()
