"""A CrewAI crew whose tool calls go through signoff
(`pip install "signoff[crewai]"`). A fake LLM stands in for the model, so
this runs offline."""

from __future__ import annotations

import json
import os
from typing import Any, List

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from crewai import Agent, Crew, Task  # noqa: E402
from crewai.llms.base_llm import BaseLLM  # noqa: E402
from crewai.tools import tool  # noqa: E402

from _adapter_policy import gate  # noqa: E402
from signoff.crewai import install  # noqa: E402


@tool("read_file")
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@tool("delete_file")
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


@tool("drop_table")
def drop_table(name: str) -> str:
    """Drop a table."""
    return f"dropped {name}"


SEEN: List[str] = []


class ScriptedLLM(BaseLLM):
    """Calls the three tools, then answers "done"."""

    def supports_function_calling(self) -> bool:
        return True

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None, **kw: Any) -> Any:
        results = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
        if results:
            SEEN.extend(f"{m['name']}: {m['content']}" for m in results)
            return "done"
        calls = [("read_file", {"path": "/data/report.csv"}), ("delete_file", {"path": "/data/old.csv"}), ("drop_table", {"name": "users"})]
        return [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}} for i, (n, a) in enumerate(calls, 1)]


def main() -> List[str]:
    ops = Agent(role="ops", goal="keep the disk clean", backstory="an operator", llm=ScriptedLLM(model="scripted"),
                tools=[read_file, delete_file, drop_table])
    task = Task(description="clean up /data", expected_output="done", agent=ops)
    with install(gate(), deadline=60):
        Crew(agents=[ops], tasks=[task]).kickoff()
    return sorted(SEEN)


if __name__ == "__main__":
    for line in main():
        print(line)
