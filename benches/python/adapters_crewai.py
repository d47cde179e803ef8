"""Added latency per allowed tool call of signoff.crewai: the same crew (fake
LLM, one allowed call per kickoff) with and without the hooks. Run by hand
in CrewAI's venv:

    .venv-crewai/bin/python benches/python/adapters_crewai.py [RUNS]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any, Callable

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crewai import Agent, Crew, Task  # noqa: E402
from crewai.llms.base_llm import BaseLLM  # noqa: E402
from crewai.tools import tool  # noqa: E402

from _adapters_bench import gate, report, timed  # noqa: E402
from signoff.crewai import install  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 100


@tool("read_file")
def read_file(path: str) -> str:
    """Read a file."""
    return path


class Fake(BaseLLM):
    def supports_function_calling(self) -> bool:
        return True

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None, **kw: Any) -> Any:
        if any(isinstance(m, dict) and m.get("role") == "tool" for m in messages):
            return "done"
        return [{"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": "/x"})}}]


def once() -> object:
    ops = Agent(role="b", goal="g", backstory="b", llm=Fake(model="fake"), tools=[read_file])
    return Crew(agents=[ops], tasks=[Task(description="go", expected_output="done", agent=ops)]).kickoff()


HOOK_TIME: list = []


def gated(store: str) -> Callable[[], object]:
    hooks = install(gate(store))
    before, after = hooks.before_tool_call, hooks.after_tool_call
    hooks.uninstall()

    def timed_before(ctx: Any) -> Any:
        start = time.perf_counter()
        try:
            return before(ctx)
        finally:
            HOOK_TIME.append(time.perf_counter() - start)

    def timed_after(ctx: Any) -> Any:
        start = time.perf_counter()
        try:
            return after(ctx)
        finally:
            HOOK_TIME[-1] += time.perf_counter() - start

    hooks.before_tool_call = timed_before  # type: ignore[method-assign]
    hooks.after_tool_call = timed_after  # type: ignore[method-assign]
    hooks.install()

    def run() -> object:
        return once()

    run.hooks = hooks  # type: ignore[attr-defined]
    return run


if __name__ == "__main__":
    without = timed(once, RUNS, warmup=5)
    with_ = {}
    for store in ["memory", "sqlite"]:
        run = gated(store)
        with_[store] = timed(run, RUNS, warmup=5)
        run.hooks.uninstall()  # type: ignore[attr-defined]
        print(f"CrewAI hooks ({store}): median {statistics.median(HOOK_TIME[-RUNS:]) * 1e6:.1f} µs inside signoff's before+after hooks per allowed call")
    report("CrewAI (Crew.kickoff, before/after tool-call hooks)", without, with_)
