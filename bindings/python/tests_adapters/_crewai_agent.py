"""A CrewAI crew with a fake LLM (native tool calls, or the text ReAct
format) and four tools."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, List, Optional, Tuple

from crewai import Agent, Crew, Task
from crewai.llms.base_llm import BaseLLM
from crewai.tools import BaseTool, tool
from pydantic import PrivateAttr

from _tools import record

Call = Tuple[str, Dict[str, Any]]


class FakeLLM(BaseLLM):
    """Answers each turn with the next list of tool calls, then "done";
    keeps what the tools answered."""

    native: bool = True
    _turns: List[List[Call]] = PrivateAttr(default_factory=list)
    _seen: List[str] = PrivateAttr(default_factory=list)
    _step: int = PrivateAttr(default=0)

    def script(self, *turns: List[Call]) -> "FakeLLM":
        self._turns = list(turns)
        return self

    @property
    def seen(self) -> List[str]:
        return self._seen

    def supports_function_calling(self) -> bool:
        return self.native

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None, **kw: Any) -> Any:
        if isinstance(messages, list):
            self._seen[:] = [str(m["content"]) for m in messages if m.get("role") == "tool"] or self._observations(messages)
        if self._step >= len(self._turns):
            return "Thought: I now know the final answer\nFinal Answer: done" if not self.native else "done"
        turn = self._turns[self._step]
        self._step += 1
        if self.native:
            return [
                {"id": f"call_{self._step}_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(turn)
            ]
        (name, args), = turn
        return f"Thought: I will clean up\nAction: {name}\nAction Input: {json.dumps(args)}"

    def _observations(self, messages: List[Dict[str, Any]]) -> List[str]:
        found = []
        for m in messages:
            text = str(m.get("content", ""))
            if "Observation:" in text:
                seen = text.rsplit("Observation:", 1)[1].strip()
                if not seen.startswith("the result of the action"):  # the format in the prompt
                    found.append(seen)
        return found


def tools(ran: pathlib.Path) -> List[BaseTool]:
    @tool("delete_file")
    def delete_file(path: str) -> str:
        """Delete a file."""
        record(ran, "delete_file", path)
        return f"deleted {path}"

    @tool("read_file")
    def read_file(path: str) -> str:
        """Read a file."""
        record(ran, "read_file", path)
        if path == "/boom":
            raise RuntimeError("disk on fire")
        return f"contents of {path}"

    @tool("drop_table")
    def drop_table(name: str) -> str:
        """Drop a table."""
        record(ran, "drop_table", name)
        return f"dropped {name}"

    @tool("restart")
    def restart(service: str) -> str:
        """Restart a service."""
        record(ran, "restart", service)
        return f"restarted {service}"

    return [delete_file, read_file, drop_table, restart]


def kickoff(ran: pathlib.Path, *turns: List[Call], native: bool = True, llm: Optional[FakeLLM] = None) -> FakeLLM:
    llm = llm or FakeLLM(model="fake", native=native).script(*turns)
    ops = Agent(role="ops", goal="keep the disk clean", backstory="an operator", llm=llm, tools=tools(ran), max_iter=6)
    task = Task(description="clean up", expected_output="done", agent=ops)
    Crew(agents=[ops], tasks=[task]).kickoff()
    return llm
