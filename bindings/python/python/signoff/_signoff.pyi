"""Typed stubs of the native module `signoff._signoff`."""

from __future__ import annotations

import os
from typing import Any, Awaitable, Dict, List, Literal, Optional, Union

JSON = Union[None, bool, int, float, str, List["JSON"], Dict[str, "JSON"]]
Effect = Literal["allow", "deny", "approve"]
Verdict = Literal["approve", "deny"]
Status = Literal["pending", "approved", "denied", "expired", "cancelled", "completed"]

__version__: str

class SignoffError(Exception):
    code: str
class Denied(SignoffError):
    rule: Optional[str]
    rules: List[str]
    reason: str
    voter: Optional[str]
    comment: Optional[str]
    action_id: str
    request_id: Optional[str]
class ApprovalTimeout(SignoffError):
    rule: Optional[str]
    rules: List[str]
    reason: str
    voter: None
    action_id: str
    request_id: str
class Cancelled(SignoffError):
    reason: str
    request_id: str
class PolicyError(SignoffError):
    rule: Optional[str]
    issues: List[Dict[str, Any]]
class AuditError(SignoffError): ...
class InvalidAction(SignoffError): ...
class VoteRejected(SignoffError):
    voter: str
    reason: str
    request_id: str
class ApproverError(SignoffError):
    request_id: str
class StoreError(SignoffError): ...
class NotFound(SignoffError):
    request_id: str
class NoApprover(SignoffError):
    rule: Optional[str]
    rules: List[str]
class PermitUsed(SignoffError): ...

class Evaluation:
    @property
    def effect(self) -> Effect: ...
    @property
    def rules(self) -> List[str]: ...
    @property
    def reason(self) -> str: ...
    @property
    def policy_digest(self) -> str: ...
    @property
    def approval(self) -> Optional[Dict[str, Any]]: ...
    @property
    def errors(self) -> List[Dict[str, str]]: ...
    @property
    def trace(self) -> Optional[List[Dict[str, Any]]]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Policy:
    @staticmethod
    def from_toml(text: str) -> Policy: ...
    @staticmethod
    def from_json(text: str) -> Policy: ...
    @staticmethod
    def from_file(path: Union[str, os.PathLike[str]]) -> Policy: ...
    @property
    def name(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def rules(self) -> List[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def evaluate(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        now: Optional[str] = None,
    ) -> Evaluation: ...
    def explain(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        now: Optional[str] = None,
    ) -> Evaluation: ...
    def test(self, *paths: Union[str, os.PathLike[str]]) -> PolicyTestReport:
        """Runs TOML policy test files (``[[test]]`` cases) against this
        policy; a file that does not load raises ``PolicyError``."""

class PolicyTestReport:
    @property
    def passed(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def uncovered(self) -> List[str]: ...
    @property
    def results(self) -> List[Dict[str, Any]]: ...
    @property
    def text(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def check(self) -> None:
        """Raises ``AssertionError`` with the report's text when a case failed."""
    def __bool__(self) -> bool: ...

class Vote:
    def __init__(
        self,
        voter: str,
        verdict: Verdict = "approve",
        *,
        comment: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        args_digest: Optional[str] = None,
        channel: str = "python",
        grant: Optional[str] = None,
        break_glass: bool = False,
    ) -> None: ...
    @property
    def voter(self) -> str: ...
    @property
    def verdict(self) -> Verdict: ...
    @property
    def comment(self) -> Optional[str]: ...
    @property
    def grant(self) -> Optional[str]: ...
    @property
    def break_glass(self) -> bool: ...

class ApprovalRequest:
    @property
    def id(self) -> str: ...
    @property
    def action_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def actor(self) -> Optional[str]: ...
    @property
    def on_behalf_of(self) -> Optional[str]: ...
    @property
    def resource(self) -> Optional[str]: ...
    @property
    def env(self) -> Optional[str]: ...
    @property
    def args(self) -> Dict[str, Any]: ...
    @property
    def justification(self) -> Optional[str]: ...
    @property
    def context(self) -> Dict[str, Any]: ...
    @property
    def args_digest(self) -> str: ...
    @property
    def rules(self) -> List[str]: ...
    @property
    def reason(self) -> str: ...
    @property
    def risk(self) -> Optional[Literal["low", "medium", "high", "critical"]]: ...
    @property
    def allow_edit(self) -> bool: ...
    @property
    def status(self) -> Status: ...
    @property
    def expires_at(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Permit:
    @property
    def action_id(self) -> str: ...
    @property
    def request_id(self) -> Optional[str]: ...
    @property
    def name(self) -> str: ...
    @property
    def args(self) -> Dict[str, Any]: ...
    @property
    def args_digest(self) -> str: ...
    @property
    def action_digest(self) -> str: ...
    @property
    def approved_by(self) -> List[str]: ...
    @property
    def expires_at(self) -> str: ...
    @property
    def expired(self) -> bool:
        """Whether the permit has expired; an expired permit cannot complete."""
    def complete(self, ok: bool = True, detail: Optional[str] = None) -> None: ...
    def complete_async(self, ok: bool = True, detail: Optional[str] = None) -> Awaitable[None]: ...
    def __enter__(self) -> Permit: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

class Pending:
    @property
    def request_id(self) -> str: ...

class Gate:
    def __init__(
        self,
        policy: Optional[Policy] = None,
        *,
        audit: Any = None,
        approver: Any = None,
        store: Optional[str] = None,
        durability: Literal["every-record", "group", "os-buffered"] = "group",
        stream: Optional[str] = None,
        permit_ttl: Optional[float] = None,
        checkpoint_key_file: Union[str, os.PathLike[str], None] = None,
        checkpoint_key_env: Optional[str] = None,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        env: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        redact_key_file: Union[str, os.PathLike[str], None] = None,
        redact_key_env: Optional[str] = None,
        config: Union[str, os.PathLike[str], None] = None,
        shadow: Optional[Policy] = None,
    ) -> None:
        """``checkpoint_key_file`` (from ``signoff audit keygen``) or
        ``checkpoint_key_env`` (a variable holding that file's 64 hex
        characters) signs the trail with ed25519 checkpoints: every 1000
        records, every minute and on ``close()``. A missing key raises
        ``AuditError``.

        ``actor``, ``on_behalf_of``, ``env`` and ``context`` are the gate's
        defaults: every action without its own value takes them (context
        keys merge, the action's winning). ``redact_key_file`` /
        ``redact_key_env`` name the secret keying the digests that replace
        redacted values; without one the gate uses a random key.

        ``shadow`` runs a candidate policy beside the live one: both decide
        every action, the live one's decision is what happens, and where the
        candidate differs a ``policy.shadow`` record is written.

        ``config`` (or :meth:`from_config`) builds everything from a gate
        config file instead (``shadow_policy`` there); no other option may
        be given then."""
    @classmethod
    def from_config(cls, path: Union[str, os.PathLike[str]]) -> "Gate": ...
    def evaluate(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
    ) -> Evaluation:
        """What ``require`` would decide now, the gate's defaults filled in; records nothing."""
    @property
    def policy(self) -> Policy: ...
    def set_policy(self, policy: Policy) -> None: ...
    def require(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        id: Optional[str] = None,
    ) -> Permit: ...
    def require_async(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        id: Optional[str] = None,
    ) -> Awaitable[Permit]: ...
    def submit(
        self,
        name: str,
        *,
        actor: Optional[str] = None,
        on_behalf_of: Optional[str] = None,
        resource: Optional[str] = None,
        env: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        justification: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        id: Optional[str] = None,
    ) -> Union[Permit, Pending]: ...
    def resume(self, request_id: str) -> Permit: ...
    def resume_async(self, request_id: str) -> Awaitable[Permit]: ...
    def vote(
        self,
        request_id: str,
        voter: str,
        verdict: Verdict = "approve",
        *,
        comment: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        args_digest: Optional[str] = None,
        channel: str = "python",
        grant: Optional[str] = None,
        break_glass: bool = False,
    ) -> Status: ...
    def pending(self) -> List[ApprovalRequest]: ...
    def request(self, request_id: str) -> ApprovalRequest: ...
    def close(self) -> None: ...
