"""A Pydantic AI agent whose tool calls go through signoff
(`pip install "signoff[pydantic-ai]"`). A FunctionModel stands in for the
LLM, so this runs offline."""

from __future__ import annotations

from typing import List

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from _adapter_policy import gate
from signoff.pydantic_ai import SignoffCapability


def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


def drop_table(name: str) -> str:
    """Drop a table."""
    return f"dropped {name}"


def main() -> List[str]:
    seen: List[str] = []

    def model(messages: List[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
        if returns:
            seen.extend(f"{p.tool_call_id}: {p.content}" for p in returns)
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(
            parts=[
                TextPart("Cleaning up old data."),
                ToolCallPart("read_file", {"path": "/data/report.csv"}, tool_call_id="call_1"),
                ToolCallPart("delete_file", {"path": "/data/old.csv"}, tool_call_id="call_2"),
                ToolCallPart("drop_table", {"name": "users"}, tool_call_id="call_3"),
            ]
        )

    agent = Agent(FunctionModel(model), tools=[read_file, delete_file, drop_table], capabilities=[SignoffCapability(gate(), deadline=60)])
    agent.run_sync("clean up /data")
    return seen


if __name__ == "__main__":
    for line in main():
        print(line)
