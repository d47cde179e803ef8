"""signoff for Pydantic AI agents.

``SignoffCapability(gate)`` gates every tool call of the agent:

    from pydantic_ai import Agent
    from signoff.pydantic_ai import SignoffCapability

    agent = Agent(model, tools=[...], capabilities=[SignoffCapability(gate)])

Blocking mode (the default) decides in ``before_tool_execute``, waiting
within ``deadline`` seconds and four fifths of what is left of the run's own
``timeout=``, so the adapter denies before the run is cancelled: the tool runs
with the approved args and its outcome completes the permit; a refusal is
``ToolDenied`` with the reason, which the model reads.

Durable mode (``mode="durable"``, with ``output_type=[..., DeferredToolRequests]``)
raises ``ApprovalRequired`` for a call that needs reviewers; its metadata
carries ``{"signoff": {"request_id", ...}}``. After the vote, build the
results with :meth:`SignoffCapability.deferred_results` and run again with
the saved ``message_history``: on resume the hook runs again with
``tool_call_approved`` set, finds the same request, and lets the call run
only if signoff approved it.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional, Union

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

import_framework("pydantic_ai", "pydantic_ai", "pydantic-ai", "Pydantic AI (pydantic-ai-slim)")

from pydantic_ai import RunContext  # noqa: E402
from pydantic_ai.capabilities import AbstractCapability  # noqa: E402
from pydantic_ai.exceptions import ApprovalRequired, SkipToolExecution  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart  # noqa: E402
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDefinition, ToolDenied  # noqa: E402

__all__ = ["SignoffCapability"]

ThreadId = Union[None, str, Callable[[RunContext[Any]], Optional[str]]]
FRAMEWORK = "pydantic-ai"


class SignoffCapability(AbstractCapability[Any]):
    """Gates every tool call of a Pydantic AI agent through a signoff gate.

    ``mode`` is ``"blocking"`` or ``"durable"``. ``prefix`` and
    ``action_name`` map tool names to action names; ``deadline`` (seconds)
    bounds a blocking wait; ``on_deny="raise"`` raises the signoff error out
    of the run instead of telling the model. ``thread_id`` namespaces the
    action ids (a string or a function of the run context); by default it is
    the run's ``conversation_id``, which a resumed run inherits from its
    message history.
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
        if mode not in ("blocking", "durable"):
            raise ValueError(f"mode must be `blocking` or `durable`, not `{mode}`")
        self.mode = mode
        self.thread_id = thread_id
        self.core = ToolGate(gate, FRAMEWORK, prefix=prefix, action_name=action_name, deadline=deadline, on_deny=on_deny)
        self._lock = threading.Lock()
        self._permits: Dict[str, Allowed] = {}

    # ------------------------------------------------------------ hooks

    async def before_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: Dict[str, Any],
    ) -> Dict[str, Any]:
        try:
            tool_call = self._call(ctx, call)
        except Exception as exc:
            return self._refuse(self.core._refused(exc))
        decision: Decision
        if self.mode == "durable":
            decision = await self.core.submit_async(tool_call)
            if isinstance(decision, Paused):
                # also when the app approved in Pydantic AI alone: signoff has not
                raise ApprovalRequired(metadata=decision.payload)
        else:
            # stop waiting before the run's own timeout does: it would cancel the run
            left = ctx.remaining_time()
            decision = await self.core.decide_async(tool_call, deadline=None if left is None else left * 0.8)
        if not isinstance(decision, Allowed):
            return self._refuse(decision)
        with self._lock:
            self._permits[self._key(ctx, call)] = decision
        return decision.args if decision.edited else args

    async def after_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: Dict[str, Any],
        result: Any,
    ) -> Any:
        allowed = self._take(self._key(ctx, call))
        if allowed is not None:
            await ToolGate.complete_async(allowed.permit, ok=True)
        return result

    async def on_tool_execute_error(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: Dict[str, Any],
        error: Exception,
    ) -> Any:
        allowed = self._take(self._key(ctx, call))
        if allowed is not None:
            await ToolGate.complete_async(allowed.permit, ok=False, detail=repr(error))
        raise error

    # ------------------------------------------------------------ durable

    def deferred_results(self, requests: DeferredToolRequests) -> DeferredToolResults:
        """The ``DeferredToolResults`` that resume a run's deferred approvals
        once signoff has resolved them: ``True`` for each resolved request, so
        the hook runs again and reads the outcome from the store (approved →
        the call runs with the approved args; refused → the model reads why).
        Calls still pending are left out: resume once :meth:`pending` is
        empty. Never files a request or decides anything itself."""
        waiting = self.pending(requests)
        approvals: Dict[str, Union[bool, ToolApproved, ToolDenied]] = {}
        for part in requests.approvals:
            if _request_id(requests, part.tool_call_id) is not None and part.tool_call_id not in waiting:
                approvals[part.tool_call_id] = True
        return DeferredToolResults(approvals=approvals)

    def pending(self, requests: DeferredToolRequests) -> Dict[str, str]:
        """Tool-call id → request id of the deferred approvals still waiting
        for reviewers (a request that cannot be read counts as resolved: the
        hook then refuses it)."""
        waiting: Dict[str, str] = {}
        for part in requests.approvals:
            request_id = _request_id(requests, part.tool_call_id)
            if request_id is None:
                continue
            try:
                status = self.core.gate.request(request_id).status
            except Exception:
                continue
            if status == "pending":
                waiting[part.tool_call_id] = request_id
        return waiting

    # ------------------------------------------------------------ helpers

    def _call(self, ctx: RunContext[Any], call: ToolCallPart) -> ToolCall:
        return ToolCall(
            framework=FRAMEWORK,
            tool=call.tool_name,
            args=call.args_as_dict(),
            call_id=call.tool_call_id,
            thread_id=self._thread(ctx),
            justification=_justification(ctx, call.tool_call_id),
        )

    def _thread(self, ctx: RunContext[Any]) -> Optional[str]:
        if isinstance(self.thread_id, str):
            return self.thread_id
        if callable(self.thread_id):
            return self.thread_id(ctx)
        return ctx.conversation_id

    def _refuse(self, refused: Decision) -> Dict[str, Any]:
        assert isinstance(refused, Refused)
        if self.core.on_deny == "raise":
            self.core.raise_refusal(refused)
        raise SkipToolExecution(ToolDenied(refused.message))

    def _key(self, ctx: RunContext[Any], call: ToolCallPart) -> str:
        return f"{self._thread(ctx)}:{call.tool_call_id}"

    def _take(self, key: str) -> Optional[Allowed]:
        with self._lock:
            return self._permits.pop(key, None)


def _request_id(requests: DeferredToolRequests, call_id: str) -> Optional[str]:
    meta = (requests.metadata or {}).get(call_id)
    found = meta.get("signoff") if isinstance(meta, dict) else None
    return found.get("request_id") if isinstance(found, dict) else None


def _justification(ctx: RunContext[Any], call_id: str) -> Optional[str]:
    """The text of the model response that made this call, if it has any."""
    for message in reversed(ctx.messages):
        if isinstance(message, ModelResponse) and any(
            isinstance(p, ToolCallPart) and p.tool_call_id == call_id for p in message.parts
        ):
            return text_of("\n".join(p.content for p in message.parts if isinstance(p, TextPart)))
    return None
