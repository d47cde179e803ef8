"""signoff: action-level approvals for AI agents.

A policy answers allow, deny or approve for each action an agent wants to
run; approve waits for enough humans (never the requester), and every
request, decision, vote and outcome goes into a hash-chained audit trail.
Everything here is the Rust core; this package adds Pythonic glue only.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Awaitable, Callable, Dict, List, Optional, TypeVar, Union

from ._signoff import (
    ApprovalRequest,
    ApprovalTimeout,
    ApproverError,
    AuditError,
    Cancelled,
    Denied,
    Evaluation,
    InvalidAction,
    NoApprover,
    NotFound,
    Pending,
    Permit,
    PermitUsed,
    Policy,
    PolicyError,
    PolicyTestReport,
    SignoffError,
    StoreError,
    Vote,
    VoteRejected,
    __version__,
)
from ._signoff import Gate as _NativeGate
from ._adapters import AdapterError

__all__ = [
    "AdapterError",
    "ApprovalRequest",
    "ApprovalTimeout",
    "Approver",
    "ApproverError",
    "AuditError",
    "AuditSink",
    "Cancelled",
    "Denied",
    "Evaluation",
    "Gate",
    "InvalidAction",
    "JsonlSink",
    "NoApprover",
    "NotFound",
    "Pending",
    "Permit",
    "PermitUsed",
    "Policy",
    "PolicyError",
    "PolicyTestReport",
    "SignoffError",
    "StoreError",
    "TERMINAL",
    "Vote",
    "VoteRejected",
    "__version__",
]

#: Pass as ``approver=`` to ask on the controlling terminal.
TERMINAL = "terminal"

F = TypeVar("F", bound=Callable[..., Any])


class Approver:
    """Presents approval requests to reviewers.

    Override :meth:`review`, sync or ``async``. Return ``None`` (and vote
    later through :meth:`Gate.vote`), a :class:`Vote`, or a list of votes.
    An exception raised here fails the request closed and is reported.
    """

    def review(self, request: ApprovalRequest) -> Union[None, Vote, List[Vote], Awaitable[Any]]:
        raise NotImplementedError


class AuditSink:
    """Receives audit records as canonical JSON lines, already hash-chained.

    ``append`` must make the lines durable before returning; raising fails
    every action closed. ``head`` may return ``{"stream", "seq", "hash"}`` of
    the last line stored, so a restarted process continues the chain.
    """

    def append(self, lines: List[str]) -> None:
        raise NotImplementedError

    def head(self) -> Optional[Dict[str, Any]]:
        return None


class JsonlSink(os.PathLike):  # type: ignore[type-arg]
    """The built-in JSON-lines audit file (same as passing the path)."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"JsonlSink({self.path!r})"


def _resolve(value: Any, arguments: Dict[str, Any]) -> Any:
    """A guard option: a value, or a callable given the call's arguments by name."""
    return value(**arguments) if callable(value) else value


def _call_with(fn: Callable[..., Any], sig: inspect.Signature, approved: Dict[str, Any]) -> Any:
    """Calls ``fn`` with the approved arguments, by parameter kind."""
    positional: List[Any] = []
    keyword: Dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if name not in approved:
            continue
        value = approved[name]
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional.append(value)
        elif param.kind is param.VAR_POSITIONAL:
            positional.extend(value)
        elif param.kind is param.KEYWORD_ONLY:
            keyword[name] = value
        else:
            keyword.update(value)
    return fn(*positional, **keyword)


class Gate(_NativeGate):
    """The gate: ``require`` an action, get a :class:`Permit` or an exception."""

    @classmethod
    def from_config(cls, path: Union[str, "os.PathLike[str]"]) -> "Gate":
        """A gate built from a gate config file (the one ``signoff serve
        --config`` reads): policy, store, audit, ``[identity]``, channels
        and ``approver`` all come from it."""
        return cls(config=os.fspath(path))

    def guard(
        self,
        name: str,
        *,
        actor: Any = None,
        on_behalf_of: Any = None,
        resource: Any = None,
        env: Any = None,
        justification: Any = None,
        context: Any = None,
        args: Any = None,
    ) -> Callable[[F], F]:
        """Decorates a function so every call is required first.

        Each keyword may be a value or a callable receiving the call's
        arguments by name (``resource=lambda table, **kw: ...``). By default the action's args are the call's arguments, and
        the function runs with the approved ones (a reviewer may have edited
        them); pass ``args=`` to choose what reviewers see, and the function
        then runs with its original arguments. The outcome is completed on the
        permit: success, or the exception it raised.
        """

        def decorate(fn: F) -> F:
            sig = inspect.signature(fn)

            def spec(a: tuple, kw: dict) -> Dict[str, Any]:  # type: ignore[type-arg]
                bound = sig.bind(*a, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                return {
                    "actor": _resolve(actor, arguments),
                    "on_behalf_of": _resolve(on_behalf_of, arguments),
                    "resource": _resolve(resource, arguments),
                    "env": _resolve(env, arguments),
                    "justification": _resolve(justification, arguments),
                    "context": _resolve(context, arguments),
                    "args": arguments if args is None else _resolve(args, arguments),
                }

            def run(permit: Permit, a: tuple, kw: dict) -> Any:  # type: ignore[type-arg]
                if args is None:
                    return _call_with(fn, sig, permit.args)
                return fn(*a, **kw)

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*a: Any, **kw: Any) -> Any:
                    permit = await self.require_async(name, **spec(a, kw))
                    try:
                        result = await run(permit, a, kw)
                    except BaseException as exc:
                        await permit.complete_async(ok=False, detail=repr(exc))
                        raise
                    await permit.complete_async(ok=True)
                    return result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*a: Any, **kw: Any) -> Any:
                permit = self.require(name, **spec(a, kw))
                try:
                    result = run(permit, a, kw)
                except BaseException as exc:
                    permit.complete(ok=False, detail=repr(exc))
                    raise
                permit.complete(ok=True)
                return result

            return wrapper  # type: ignore[return-value]

        return decorate
