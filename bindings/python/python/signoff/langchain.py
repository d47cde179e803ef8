"""signoff for LangChain v1 agents (``create_agent``) and LangGraph.

``SignoffMiddleware(gate)`` gates every tool call of the agent:

    from langchain.agents import create_agent
    from signoff.langchain import SignoffMiddleware

    agent = create_agent(model, tools, middleware=[SignoffMiddleware(gate)])

Blocking mode (the default) waits for the decision, within ``deadline``
seconds, and runs the tool with the approved (possibly edited) args; a
refusal becomes a ``ToolMessage(status="error")`` the model reads.

Durable mode (``mode="interrupt"``) needs a checkpointer and a
``thread_id``: a call that needs reviewers becomes a LangGraph
``interrupt()`` carrying ``{"signoff": {"request_id", ...}}``; after the
vote (from any process sharing the store), resume the graph with
:func:`resume_command`. The decision is always read from signoff's store,
never from the resume value, and the action id is the thread id plus the
tool-call id, so the node's re-run on resume never files a second request.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Optional, Union

from ._adapters import (
    DEFAULT_DEADLINE,
    ActionName,
    Allowed,
    Decision,
    Paused,
    Refused,
    ToolCall,
    ToolGate,
    import_framework,
    text_of,
)

import_framework("langchain.agents.middleware", "langchain", "langchain", "LangChain v1 (langchain>=1)")

from langchain.agents.middleware import AgentMiddleware, ToolCallRequest  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langgraph.types import Command, Interrupt, interrupt  # noqa: E402

__all__ = ["SignoffMiddleware", "resume_command"]

ThreadId = Union[None, str, Callable[[ToolCallRequest], Optional[str]]]
ToolResult = Union[ToolMessage, Command[Any]]


def resume_command(interrupts: Iterable[Interrupt]) -> Command[Any]:
    """The ``Command`` that resumes every signoff interrupt in ``interrupts``
    (e.g. ``out["__interrupt__"]``), whether their requests were approved,
    denied or are still pending: the middleware reads the outcome from the
    store. Other middleware's interrupts are left out."""
    return Command(resume={i.id: True for i in interrupts if isinstance(i.value, dict) and "signoff" in i.value})


class SignoffMiddleware(AgentMiddleware):
    """Gates every tool call of a LangChain agent through a signoff gate.

    ``mode`` is ``"blocking"`` or ``"interrupt"`` (durable). ``prefix`` and
    ``action_name`` map tool names to action names; ``deadline`` (seconds)
    bounds a blocking wait; ``on_deny="raise"`` raises the signoff error
    instead of returning an error ``ToolMessage``. ``thread_id`` names the
    conversation (a string or a function of the request); by default it is
    the graph's ``configurable.thread_id``.
    """

    def __init__(
        self,
        gate: Any,
        *,
        mode: str = "blocking",
        prefix: str = "",
        action_name: ActionName = None,
        deadline: float = DEFAULT_DEADLINE,
        on_deny: str = "message",
        thread_id: ThreadId = None,
    ) -> None:
        super().__init__()
        if mode not in ("blocking", "interrupt"):
            raise ValueError(f"mode must be `blocking` or `interrupt`, not `{mode}`")
        self.mode = mode
        self.thread_id = thread_id
        self.core = ToolGate(
            gate, "langchain", prefix=prefix, action_name=action_name, deadline=deadline, on_deny=on_deny
        )

    # ------------------------------------------------------------ mapping

    def _thread(self, request: ToolCallRequest) -> Optional[str]:
        if isinstance(self.thread_id, str):
            return self.thread_id
        if callable(self.thread_id):
            return self.thread_id(request)
        config = getattr(request.runtime, "config", None) or {}
        found = (config.get("configurable") or {}).get("thread_id")
        return None if found is None else str(found)

    def _call(self, request: ToolCallRequest) -> ToolCall:
        tc = request.tool_call
        return ToolCall(
            framework="langchain",
            tool=tc["name"],
            args=dict(tc.get("args") or {}),
            call_id=tc.get("id"),
            thread_id=self._thread(request),
            justification=_justification(request),
        )

    # ------------------------------------------------------------ hooks

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolResult],
    ) -> ToolResult:
        try:
            call = self._call(request)
        except Exception as exc:
            return self._refuse(request, self.core._refused(exc))
        if self.mode == "interrupt":
            decision = self._until_resolved(call)
        else:
            decision = self.core.decide(call)
        if not isinstance(decision, Allowed):
            return self._refuse(request, decision)
        try:
            result = handler(self._with_args(request, decision))
        except BaseException as exc:
            ToolGate.complete(decision.permit, ok=False, detail=repr(exc))
            raise
        ToolGate.complete(decision.permit, ok=_succeeded(result), detail=_detail(result))
        return result

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolResult]],
    ) -> ToolResult:
        try:
            call = self._call(request)
        except Exception as exc:
            return self._refuse(request, self.core._refused(exc))
        if self.mode == "interrupt":
            decision: Decision = await self.core.submit_async(call)
            while isinstance(decision, Paused):
                interrupt(decision.payload)
                decision = await self.core.submit_async(call)
        else:
            decision = await self.core.decide_async(call)
        if not isinstance(decision, Allowed):
            return self._refuse(request, decision)
        try:
            result = await handler(self._with_args(request, decision))
        except BaseException as exc:
            await ToolGate.complete_async(decision.permit, ok=False, detail=repr(exc))
            raise
        await ToolGate.complete_async(decision.permit, ok=_succeeded(result), detail=_detail(result))
        return result

    # ------------------------------------------------------------ helpers

    def _until_resolved(self, call: ToolCall) -> Decision:
        """Durable mode: pause with ``interrupt()`` until the request resolves.

        On resume LangGraph runs this node again and each ``interrupt()``
        already answered returns at once; the submit after it finds the same
        request and reads its outcome. A resume before the vote pauses again.
        """
        decision = self.core.submit(call)
        while isinstance(decision, Paused):
            interrupt(decision.payload)
            decision = self.core.submit(call)
        return decision

    def _with_args(self, request: ToolCallRequest, allowed: Allowed) -> ToolCallRequest:
        if not allowed.edited:
            return request
        return request.override(tool_call={**request.tool_call, "args": allowed.args})

    def _refuse(self, request: ToolCallRequest, refused: Decision) -> ToolMessage:
        assert isinstance(refused, Refused)
        if self.core.on_deny == "raise":
            self.core.raise_refusal(refused)
        tc = request.tool_call
        return ToolMessage(content=refused.message, tool_call_id=tc.get("id") or "", name=tc.get("name"), status="error")


def _justification(request: ToolCallRequest) -> Optional[str]:
    """The text of the model message that made this call, if it has any."""
    state = request.state
    messages = state.get("messages") if isinstance(state, dict) else getattr(state, "messages", None)
    call_id = request.tool_call.get("id")
    for message in reversed(messages or []):
        if isinstance(message, AIMessage) and any(tc.get("id") == call_id for tc in message.tool_calls):
            return text_of(message.content)
    return None


def _succeeded(result: ToolResult) -> bool:
    return not (isinstance(result, ToolMessage) and result.status == "error")


def _detail(result: ToolResult) -> Optional[str]:
    if isinstance(result, ToolMessage) and result.status == "error":
        return text_of(result.content) or "tool error"
    return None
