"""signoff for the OpenAI Agents SDK (``openai-agents``).

``SignoffGuard(gate).tool(t)`` returns a gated copy of a ``FunctionTool``:

    from agents import Agent, function_tool
    from signoff.openai_agents import SignoffGuard

    guard = SignoffGuard(gate)
    agent = Agent(name="ops", tools=guard.tools([delete_file, read_file]))

Blocking mode (the default) decides in a ``tool_input_guardrail``, waiting
within ``deadline`` seconds: a refusal is ``reject_content`` with the
reason (``on_deny="raise"``: ``raise_exception``). The gated tool runs with
the approved args (a reviewer's edit included) and completes the permit with
its outcome.

Durable mode (``mode="durable"``) decides in ``needs_approval``: a call that
needs reviewers interrupts the run. Serialize ``result.to_state()`` with
``to_json()``; after the vote, in any process sharing the store, restore it
with ``RunState.from_json``, call :meth:`SignoffGuard.resolve` (it approves
or rejects each interruption from signoff's resolution) and run it again.
An approval given in the SDK alone does not let the call run: the guardrail
checks signoff's store once more.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

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
)

import_framework("agents", "openai_agents", "openai-agents", "the OpenAI Agents SDK (openai-agents)")

from agents import (  # noqa: E402
    FunctionTool,
    Tool,
    RunContextWrapper,
    RunState,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolInputGuardrailData,
)
from agents.items import ToolApprovalItem  # noqa: E402
from agents.tool_context import ToolContext  # noqa: E402

__all__ = ["SignoffGuard"]

ThreadId = Union[None, str, Callable[[Any], Optional[str]]]
FRAMEWORK = "openai-agents"


class SignoffGuard:
    """Gates the function tools of an OpenAI agent through a signoff gate.

    ``mode`` is ``"blocking"`` or ``"durable"``. ``prefix`` and
    ``action_name`` map tool names to action names; ``deadline`` (seconds)
    bounds every wait; ``on_deny="raise"`` makes a refusal raise
    ``ToolInputGuardrailTripwireTriggered`` instead of answering the model.
    ``thread_id`` namespaces the action ids: a string, or a function of the
    run's context object (what you pass as ``Runner.run(context=...)``).
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
        # decisions made before the tool runs, by action id: needs_approval or
        # resolve() -> guardrail, and guardrail -> the tool's invocation
        self._decided: Dict[str, Decision] = {}
        self._permits: Dict[str, Allowed] = {}
        self._gated: Dict[str, FunctionTool] = {}
        self.input_guardrail: ToolInputGuardrail[Any] = ToolInputGuardrail(
            guardrail_function=self._guardrail, name="signoff"
        )

    # ------------------------------------------------------------ tools

    def tool(self, tool: FunctionTool) -> FunctionTool:
        """A gated copy of ``tool``: signoff's guardrail first, the approved
        args in, the outcome on the permit; in durable mode also
        ``needs_approval``."""
        if not isinstance(tool, FunctionTool):
            raise TypeError(f"SignoffGuard.tool takes a FunctionTool (from @function_tool), not {type(tool).__name__}")
        gated = copy.copy(tool)
        gated.tool_input_guardrails = [self.input_guardrail, *(tool.tool_input_guardrails or [])]
        gated.on_invoke_tool = self._invoker(gated.on_invoke_tool)
        if self.mode == "durable":
            gated.needs_approval = self._needs_approval(tool.name)
        self._gated[tool.name] = gated
        return gated

    def tools(self, tools: Iterable[FunctionTool]) -> List[Tool]:
        """:meth:`tool` for each."""
        return [self.tool(t) for t in tools]

    # ------------------------------------------------------------ durable

    async def resolve(self, state: RunState[Any, Any]) -> List[ToolApprovalItem]:
        """Approves or rejects each of ``state``'s interruptions on a gated
        tool from signoff's resolution of its request, and returns those still
        pending (run the state again once this is empty). Never files a
        request: a restored state finds the ones its first run filed."""
        pending: List[ToolApprovalItem] = []
        context = getattr(getattr(state, "_context", None), "context", None)
        for item in state.get_interruptions():
            if item.tool_name not in self._gated or item.call_id is None:
                continue
            try:
                args = json.loads(item.arguments or "{}")
                call = self._call_of(item.tool_name, item.call_id, args, context)
            except Exception as exc:
                decision: Decision = self.core._refused(exc)
            else:
                decision = await self.core.submit_async(call)
            if isinstance(decision, Paused):
                pending.append(item)
                continue
            if isinstance(decision, Allowed):
                self._keep(self._decided, self._key(item.call_id, context), decision)
                state.approve(item)
            else:
                state.reject(item, rejection_message=decision.message)
        return pending

    def _needs_approval(self, tool_name: str) -> Callable[..., Any]:
        async def needs_approval(ctx: RunContextWrapper[Any], params: Dict[str, Any], call_id: str) -> bool:
            call = self._call_of(tool_name, call_id, params, ctx.context)
            decision = await self.core.submit_async(call)
            if isinstance(decision, Paused):
                return True
            self._keep(self._decided, self.core.action_id(call) or "", decision)
            return False

        return needs_approval

    # ------------------------------------------------------------ hooks

    async def _guardrail(self, data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        try:
            args = json.loads(ctx.tool_arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("the tool's arguments are not a JSON object")
            call = self._call_of(ctx.tool_name, ctx.tool_call_id, args, ctx.context)
            key = self.core.action_id(call) or ""
        except Exception as exc:
            return self._reject(self.core._refused(exc))
        decision: Optional[Decision] = self._take(self._decided, key)
        if decision is None:
            if self.mode == "durable":
                # approved in the SDK without resolve(): signoff's store decides
                decision = await self.core.submit_async(call)
            else:
                decision = await self.core.decide_async(call)
        if isinstance(decision, Paused):
            decision = Refused(f"signoff: denied: request `{decision.request_id}` is still pending")
        if isinstance(decision, Refused):
            return self._reject(decision)
        self._keep(self._permits, key, decision)
        return ToolGuardrailFunctionOutput.allow()

    def _invoker(self, original: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        async def invoke(ctx: ToolContext[Any], input: str) -> Any:
            key = guard._key(ctx.tool_call_id, ctx.context)
            allowed = guard._take(guard._permits, key)
            if not isinstance(allowed, Allowed):
                return "signoff: denied: the tool was invoked without a signoff decision"
            if allowed.edited:
                input = json.dumps(allowed.args)
                # arguments the SDK prepared for the model's input do not apply
                if hasattr(ctx, "_function_tool_arguments"):
                    ctx._function_tool_arguments = None
            try:
                result = await _run_reporting_errors(original, ctx, input)
            except BaseException as exc:
                await ToolGate.complete_async(allowed.permit, ok=False, detail=repr(exc))
                raise
            ok, value, error = result
            await ToolGate.complete_async(allowed.permit, ok=ok, detail=error)
            return value

        return invoke

    # ------------------------------------------------------------ helpers

    def _call_of(self, tool: str, call_id: Optional[str], args: Dict[str, Any], context: Any) -> ToolCall:
        return ToolCall(framework=FRAMEWORK, tool=tool, args=args, call_id=call_id, thread_id=self._thread(context))

    def _key(self, call_id: str, context: Any) -> str:
        return self.core.action_id(self._call_of("", call_id, {}, context)) or ""

    def _thread(self, context: Any) -> Optional[str]:
        if callable(self.thread_id):
            return self.thread_id(context)
        return self.thread_id

    def _reject(self, refused: Refused) -> ToolGuardrailFunctionOutput:
        if self.core.on_deny == "raise":
            return ToolGuardrailFunctionOutput.raise_exception(
                output_info={"signoff": refused.message, "code": getattr(refused.error, "code", None)}
            )
        return ToolGuardrailFunctionOutput.reject_content(refused.message)

    def _keep(self, table: Dict[str, Any], key: str, value: Any) -> None:
        with self._lock:
            table[key] = value

    def _take(self, table: Dict[str, Any], key: str) -> Any:
        with self._lock:
            return table.pop(key, None)


async def _run_reporting_errors(original: Callable[..., Any], ctx: ToolContext[Any], input: str) -> "tuple[bool, Any, Optional[str]]":
    """Runs the SDK's invoker and tells whether the tool failed, even when the
    SDK turned its exception into a message for the model."""
    inner = getattr(original, "_invoke_tool_impl", None)
    if inner is None or not hasattr(original, "_on_handled_error"):
        return True, await original(ctx, input), None
    failure: List[str] = []

    async def watched(c: ToolContext[Any], i: str) -> Any:
        try:
            return await inner(c, i)
        except Exception as exc:
            failure.append(repr(exc))
            raise

    watcher = copy.copy(original)
    setattr(watcher, "_invoke_tool_impl", watched)
    value = await watcher(ctx, input)
    return (not failure), value, (failure[0] if failure else None)
