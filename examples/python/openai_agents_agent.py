"""An OpenAI Agents SDK agent whose function tools go through signoff
(`pip install "signoff[openai-agents]"`). The SDK's scripted model stands in
for the LLM, so this runs offline."""

from __future__ import annotations

import asyncio
from typing import List

from agents import Agent, Runner, ToolCallOutputItem, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from _adapter_policy import gate
from signoff.openai_agents import SignoffGuard


@function_tool
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@function_tool
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


@function_tool
def drop_table(name: str) -> str:
    """Drop a table."""
    return f"dropped {name}"


async def main() -> List[str]:
    model = ScriptedModel(
        [
            [
                function_call("read_file", {"path": "/data/report.csv"}, call_id="call_1"),
                function_call("delete_file", {"path": "/data/old.csv"}, call_id="call_2"),
                function_call("drop_table", {"name": "users"}, call_id="call_3"),
            ],
            [assistant_message("done")],
        ]
    )
    guard = SignoffGuard(gate(), deadline=60)
    agent = Agent(name="ops", model=model, tools=guard.tools([read_file, delete_file, drop_table]))
    result = await Runner.run(agent, "clean up /data")
    return [f"{item.call_id}: {item.output}" for item in result.new_items if isinstance(item, ToolCallOutputItem)]


if __name__ == "__main__":
    for line in asyncio.run(main()):
        print(line)
