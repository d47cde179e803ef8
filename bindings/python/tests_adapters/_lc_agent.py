"""A LangChain v1 agent with a fake model and four tools, for the tests and
for the child processes of the durable-mode tests:

    _lc_agent.py start|resume STORE TRAIL CHECKPOINTS THREAD RAN
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langchain_core.tools import BaseTool, tool  # noqa: E402

from _tools import record  # noqa: E402

Call = Tuple[str, Dict[str, Any], str]


class FakeToolModel(FakeMessagesListChatModel):
    """The fake chat model with tools bound (the stock one refuses bind_tools)."""

    def bind_tools(self, tools: Any, **kw: Any) -> "FakeToolModel":
        return self


def model(*calls: Call, text: str = "I will clean up") -> FakeToolModel:
    """Calls the tools in one step, then answers "done"."""
    tool_calls = [{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in calls]
    return FakeToolModel(responses=[AIMessage(content=text, tool_calls=tool_calls), AIMessage(content="done")])


def tools(ran: pathlib.Path) -> List[BaseTool]:
    @tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        record(ran, "delete_file", path)
        return f"deleted {path}"

    @tool
    def read_file(path: str) -> str:
        """Read a file."""
        record(ran, "read_file", path)
        if path == "/boom":
            raise RuntimeError("disk on fire")
        return f"contents of {path}"

    @tool
    def drop_table(name: str) -> str:
        """Drop a table."""
        record(ran, "drop_table", name)
        return f"dropped {name}"

    @tool
    def restart(service: str) -> str:
        """Restart a service."""
        record(ran, "restart", service)
        return f"restarted {service}"

    return [delete_file, read_file, drop_table, restart]


def tool_messages(messages: Sequence[BaseMessage]) -> Dict[str, Tuple[str, str]]:
    """tool_call_id -> (status, content) of every ToolMessage."""
    return {m.tool_call_id: (m.status, str(m.content)) for m in messages if isinstance(m, ToolMessage)}


def main() -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    import signoff
    from conftest import make_gate
    from signoff.langchain import SignoffMiddleware, resume_command

    phase, store, trail, checkpoints, thread, ran = sys.argv[1:7]
    gate = make_gate(store, pathlib.Path(trail))
    cfg: Dict[str, Any] = {"configurable": {"thread_id": thread}}
    with SqliteSaver.from_conn_string(checkpoints) as saver:
        if phase == "start":
            fake = model(("delete_file", {"path": "/data/x"}, "call_1"), ("read_file", {"path": "/data/y"}, "call_2"))
        else:
            fake = FakeToolModel(responses=[AIMessage(content="done")])
        agent = create_agent(fake, tools(pathlib.Path(ran)), middleware=[SignoffMiddleware(gate, mode="interrupt")], checkpointer=saver)
        if phase == "start":
            out = agent.invoke({"messages": [("user", "clean up")]}, cfg)
        else:
            paused = agent.get_state(cfg).interrupts
            out = agent.invoke(resume_command(paused), cfg)
        interrupts = [i.value for i in out.get("__interrupt__", [])]
        gate.close()
        print(json.dumps({"interrupts": interrupts, "tool_messages": tool_messages(out["messages"]), "signoff": signoff.__version__}))


if __name__ == "__main__":
    main()
