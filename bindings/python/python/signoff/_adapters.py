"""The framework-adapter contract of DESIGN §11, in one place for all four
Python adapters (LangChain, OpenAI Agents, Pydantic AI, CrewAI).

An adapter turns a host's tool call into a :class:`ToolCall` and asks a
:class:`ToolGate` what to do with it. The gate maps the tool to an action
(name, args, id, context, justification), decides within a deadline, and
turns every outcome, including its own errors, into one of three answers:
:class:`Allowed` (run the tool with the permit's args, then complete it),
:class:`Refused` (the model sees ``signoff: denied (rule <id>): <reason>``)
or, in durable mode, :class:`Paused` (the host stores its state and resumes
after the vote). Nothing in here ever lets a call through on an error.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any, Callable, Coroutine, Dict, List, Mapping, NoReturn, Optional, TypeVar, Union

from ._signoff import ApprovalTimeout, Denied, Pending, Permit, SignoffError

__all__ = [
    "DEFAULT_DEADLINE",
    "AdapterError",
    "Allowed",
    "Decision",
    "Paused",
    "Refused",
    "ToolCall",
    "ToolGate",
    "import_framework",
]

log = logging.getLogger("signoff.adapters")

#: How long a blocking adapter waits for a decision, in seconds, unless told
#: otherwise. Keep it below the host's own tool timeout.
DEFAULT_DEADLINE = 300.0

T = TypeVar("T")
ActionName = Union[None, Mapping[str, str], Callable[[str], str]]


def import_framework(module: str, adapter: str, extra: str, what: str) -> ModuleType:
    """Imports the host framework, or raises an ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"signoff.{adapter} needs {what}: install it with `pip install \"signoff[{extra}]\"`"
        ) from exc


class AdapterError(SignoffError):
    """An adapter refused a call for a reason of its own: its deadline passed,
    or it failed inside (the cause is chained). Raised with ``on_deny="raise"``."""

    code = "SIGNOFF_ADAPTER"


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the host reports it."""

    #: The host: ``langchain``, ``openai-agents``, ``pydantic-ai`` or ``crewai``.
    framework: str
    #: The tool's name as the model called it.
    tool: str
    #: The tool's arguments, a JSON object.
    args: Dict[str, Any]
    #: The host's tool-call id (``None`` where the host has none).
    call_id: Optional[str]
    #: The thread, conversation or task the call belongs to, where known.
    thread_id: Optional[str] = None
    #: The model's text preceding the call, where the host exposes it.
    justification: Optional[str] = None
    #: More host facts for the action's context (JSON values only).
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Allowed:
    """Run the tool with ``args`` (the approved ones, possibly edited), then
    call :meth:`ToolGate.complete` with its outcome."""

    permit: Permit
    args: Dict[str, Any]
    #: Whether a reviewer changed the arguments the model sent.
    edited: bool


@dataclass
class Refused:
    """Do not run the tool; the model sees ``message``."""

    message: str
    #: What caused it: a signoff error, or the adapter's own failure.
    error: Optional[BaseException] = None


@dataclass
class Paused:
    """Durable mode: the request waits for reviewers; store the host's state
    and resume after the vote. ``payload`` is what a UI needs to show."""

    request_id: str
    payload: Dict[str, Any]


Decision = Union[Allowed, Refused, Paused]


def deny_text(error: BaseException) -> str:
    """The text the model sees for a refusal: ``signoff: denied (rule <id>): <reason>``."""
    if isinstance(error, (Denied, ApprovalTimeout)):
        reason = error.reason
        comment = getattr(error, "comment", None)
        if comment:
            reason = f"{reason}: {comment}"
        rule = error.rule
        return f"signoff: denied (rule {rule}): {reason}" if rule else f"signoff: denied: {reason}"
    if isinstance(error, AdapterError):
        return str(error)
    if isinstance(error, SignoffError):
        return f"signoff: denied: {error}"
    return f"signoff: denied: internal error ({type(error).__name__}: {error})"


def _parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp from the core (nanoseconds, ``Z`` or an offset)."""
    m = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: `{text}`")
    base, frac, zone = m.groups()
    stamp = base + ("." + (frac + "000000")[:6] if frac else "") + ("+00:00" if zone == "Z" else zone)
    return datetime.fromisoformat(stamp)


class _Loop:
    """A private event loop on a daemon thread, so the sync hooks can wait
    with a deadline and cancel (which cancels the pending request). Rebuilt
    in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._pid = 0

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="signoff-adapters", daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._get()).result()


_LOOP = _Loop()


class ToolGate:
    """Maps tool calls to signoff actions and decides them (DESIGN §11).

    ``prefix`` is put before every tool name (``"tools."`` turns
    ``delete_file`` into ``tools.delete_file``); ``action_name`` (a mapping
    or a function of the tool name) replaces the name instead, the prefix
    still applied. ``deadline`` bounds every wait, in seconds: when it passes
    the pending request is cancelled and the call denied. ``on_deny`` is
    ``"message"`` (the model sees the refusal as the tool's error) or
    ``"raise"`` (the adapter raises, each in its host's way).
    """

    def __init__(
        self,
        gate: Any,
        framework: str,
        *,
        prefix: str = "",
        action_name: ActionName = None,
        deadline: float = DEFAULT_DEADLINE,
        on_deny: str = "message",
    ) -> None:
        if on_deny not in ("message", "raise"):
            raise ValueError(f"on_deny must be `message` or `raise`, not `{on_deny}`")
        if not deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds, not `{deadline}`")
        self.gate = gate
        self.framework = framework
        self.prefix = prefix
        self.action_name = action_name
        self.deadline = float(deadline)
        self.on_deny = on_deny

    # ------------------------------------------------------------ mapping

    def name_of(self, tool: str) -> str:
        """The action name for a tool."""
        mapped = tool
        if callable(self.action_name):
            mapped = self.action_name(tool)
        elif self.action_name is not None:
            mapped = self.action_name.get(tool, tool)
        return f"{self.prefix}{mapped}"

    def action_id(self, call: ToolCall) -> Optional[str]:
        """The action id: the host's tool-call id, namespaced by framework and
        thread, so a hook entered again for the same call finds its request."""
        if call.call_id is None:
            return None
        if call.thread_id:
            return f"{self.framework}:{call.thread_id}:{call.call_id}"
        return f"{self.framework}:{call.call_id}"

    def _action(self, call: ToolCall) -> Dict[str, Any]:
        context: Dict[str, Any] = {"framework": self.framework, "tool": call.tool}
        if call.call_id is not None:
            context["tool_call_id"] = call.call_id
        if call.thread_id:
            context["thread_id"] = call.thread_id
        context.update(call.extra)
        return {
            "args": call.args,
            "id": self.action_id(call),
            "context": context,
            "justification": call.justification or None,
        }

    # ------------------------------------------------------------ blocking

    async def decide_async(self, call: ToolCall, deadline: Optional[float] = None) -> Union[Allowed, Refused]:
        """Blocking mode: waits (without blocking the event loop) for the
        decision, at most ``deadline`` seconds (the gate's by default)."""
        wait = self.deadline if deadline is None else min(deadline, self.deadline)
        try:
            name = self.name_of(call.tool)
            pending = self.gate.require_async(name, **self._action(call))
            try:
                permit = await asyncio.wait_for(pending, timeout=max(wait, 0.0))
            except asyncio.TimeoutError:
                text = f"signoff: denied: no decision within the adapter's deadline of {wait:g} s"
                return Refused(text, AdapterError(text))
            return self._allowed(call, permit)
        except Exception as exc:  # fail closed: any error inside signoff denies
            return self._refused(exc)

    def decide(self, call: ToolCall, deadline: Optional[float] = None) -> Union[Allowed, Refused]:
        """Blocking mode for sync hooks: :meth:`decide_async` on a private loop."""
        try:
            return _LOOP.run(self.decide_async(call, deadline))
        except Exception as exc:
            return self._refused(exc)

    # ------------------------------------------------------------ durable

    def submit(self, call: ToolCall) -> Decision:
        """Durable mode: decides at once. A call that needs reviewers is
        :class:`Paused`; submitting the same call again (the host re-entering
        its hook on resume) finds the same request, never files a second one,
        and is allowed or refused once it is resolved."""
        try:
            name = self.name_of(call.tool)
            got = self.gate.submit(name, **self._action(call))
            if not isinstance(got, Pending):
                return self._allowed(call, got)
            request = self.gate.request(got.request_id)
            if _parse_time(request.expires_at) <= datetime.now(timezone.utc):
                # expired while nobody waited: resuming settles it (a timeout)
                return self._allowed(call, self.gate.resume(got.request_id))
            return Paused(got.request_id, self.payload(call, request))
        except Exception as exc:
            return self._refused(exc)

    async def submit_async(self, call: ToolCall) -> Decision:
        """:meth:`submit` off the event loop, within the deadline."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.submit, call), timeout=self.deadline)
        except Exception as exc:
            return self._refused(exc)

    def payload(self, call: ToolCall, request: Any) -> Dict[str, Any]:
        """What a UI needs to show a paused call (JSON only, args redacted)."""
        return {
            "signoff": {
                "request_id": request.id,
                "action_id": request.action_id,
                "action": request.action,
                "tool": call.tool,
                "tool_call_id": call.call_id,
                "args": request.args,
                "rules": request.rules,
                "reason": request.reason,
                "risk": request.risk,
                "expires_at": request.expires_at,
            }
        }

    # ------------------------------------------------------------ outcomes

    def _allowed(self, call: ToolCall, permit: Permit) -> Allowed:
        args = permit.args
        return Allowed(permit, args, edited=args != call.args)

    def _refused(self, error: BaseException) -> Refused:
        text = deny_text(error)
        if isinstance(error, SignoffError):
            return Refused(text, error)
        log.error("signoff adapter failed closed: %r", error)
        wrapped = AdapterError(text)
        wrapped.__cause__ = error
        return Refused(text, wrapped)

    def raise_refusal(self, refused: Refused) -> "NoReturn":
        """``on_deny="raise"``: the signoff error behind a refusal."""
        error = refused.error if isinstance(refused.error, SignoffError) else AdapterError(refused.message)
        raise error

    @staticmethod
    def complete(permit: Permit, ok: bool, detail: Optional[str] = None) -> None:
        """Records the tool's outcome on its permit. The tool has run by now,
        so a failure here is logged, not turned into a denial."""
        try:
            permit.complete(ok=ok, detail=detail)
        except Exception as exc:
            log.error("signoff: could not complete the permit of `%s`: %r", permit.action_id, exc)

    @staticmethod
    async def complete_async(permit: Permit, ok: bool, detail: Optional[str] = None) -> None:
        """:meth:`complete` for asyncio."""
        try:
            await permit.complete_async(ok=ok, detail=detail)
        except Exception as exc:
            log.error("signoff: could not complete the permit of `%s`: %r", permit.action_id, exc)


def text_of(content: Any) -> Optional[str]:
    """The plain text of a message's content (a string or a list of parts)."""
    if isinstance(content, str):
        return content.strip() or None
    if isinstance(content, list):
        parts: List[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts).strip() or None
    return None
