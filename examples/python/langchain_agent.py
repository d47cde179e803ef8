"""A LangChain v1 agent whose tool calls go through signoff
(`pip install "signoff[langchain]"`). A fake model stands in for the LLM,
so this runs offline: it reads a file (allowed), deletes one (approved by
on-call, who edits the path) and tries to drop a table (denied; the model
reads why)."""

from __future__ import annotations

from typing import Any, List

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from _adapter_policy import gate
from signoff.langchain import SignoffMiddleware


@tool
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@tool
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


@tool
def drop_table(name: str) -> str:
    """Drop a table."""
    return f"dropped {name}"


class ScriptedModel(FakeMessagesListChatModel):
    """Replays its responses; tools are bound as they are (the replies name them)."""

    def bind_tools(self, tools: Any, **kw: Any) -> "ScriptedModel":
        return self


def main() -> List[str]:
    calls = [
        {"name": "read_file", "args": {"path": "/data/report.csv"}, "id": "call_1", "type": "tool_call"},
        {"name": "delete_file", "args": {"path": "/data/old.csv"}, "id": "call_2", "type": "tool_call"},
        {"name": "drop_table", "args": {"name": "users"}, "id": "call_3", "type": "tool_call"},
    ]
    model = ScriptedModel(responses=[AIMessage(content="Cleaning up old data.", tool_calls=calls), AIMessage(content="done")])
    agent = create_agent(model, [read_file, delete_file, drop_table], middleware=[SignoffMiddleware(gate(), deadline=60)])
    out = agent.invoke({"messages": [HumanMessage(content="clean up /data")]})
    return [f"{m.tool_call_id}: {m.content}" for m in out["messages"] if isinstance(m, ToolMessage)]


if __name__ == "__main__":
    for line in main():
        print(line)
