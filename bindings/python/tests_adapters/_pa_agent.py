"""A Pydantic AI agent's pieces: a FunctionModel that calls the tools in one
step (after the model's text) and then answers "done", and four tools."""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Dict, List, Tuple

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from _tools import record

Call = Tuple[str, Dict[str, Any], str]


class Seen:
    """What the model was sent back for each call: (outcome, content)."""

    def __init__(self) -> None:
        self.returns: Dict[str, Tuple[str, str]] = {}


def model(*calls: Call, seen: Seen) -> FunctionModel:
    def respond(messages: List[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
        if returns:
            for p in returns:
                seen.returns[p.tool_call_id] = (p.outcome, str(p.content))
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[TextPart("I will clean up"), *[ToolCallPart(n, a, tool_call_id=i) for n, a, i in calls]])

    return FunctionModel(respond)


def tools(ran: pathlib.Path) -> List[Callable[..., str]]:
    def delete_file(path: str) -> str:
        """Delete a file."""
        record(ran, "delete_file", path)
        return f"deleted {path}"

    def read_file(path: str) -> str:
        """Read a file."""
        record(ran, "read_file", path)
        if path == "/boom":
            raise RuntimeError("disk on fire")
        return f"contents of {path}"

    def drop_table(name: str) -> str:
        """Drop a table."""
        record(ran, "drop_table", name)
        return f"dropped {name}"

    def restart(service: str) -> str:
        """Restart a service."""
        record(ran, "restart", service)
        return f"restarted {service}"

    return [delete_file, read_file, drop_table, restart]
