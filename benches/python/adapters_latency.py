"""Added latency per allowed tool call of signoff.langchain,
signoff.openai_agents and signoff.pydantic_ai: the same agent (fake model,
one allowed call per run) with and without the adapter. Run by hand in the
adapters' venv:

    .venv-adapters/bin/python benches/python/adapters_latency.py [RUNS]
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Callable, Dict, List

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _adapters_bench import gate, report, timed  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
STORES = ["memory", "sqlite"]


def langchain() -> None:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool

    from signoff.langchain import SignoffMiddleware

    class Fake(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kw: Any) -> "Fake":
            return self

    @tool
    def read_file(path: str) -> str:
        """Read a file."""
        return path

    counter = iter(range(10**9))

    def make(middleware: List[Any]) -> Callable[[], object]:
        def once() -> object:
            n = next(counter)
            call = {"name": "read_file", "args": {"path": "/x"}, "id": f"call_{n}", "type": "tool_call"}
            model = Fake(responses=[AIMessage(content="", tool_calls=[call]), AIMessage(content="done")])
            return create_agent(model, [read_file], middleware=middleware).invoke({"messages": [HumanMessage(content="go")]})

        return once

    from langchain.agents.middleware import AgentMiddleware

    class PassThrough(AgentMiddleware):
        """A middleware that only calls the tool: what any wrap_tool_call costs."""

        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            return handler(request)

    without = timed(make([]), RUNS)
    with_ = {"no-op hook": timed(make([PassThrough()]), RUNS)}
    with_.update({s: timed(make([SignoffMiddleware(gate(s))]), RUNS) for s in STORES})
    report("LangChain v1 (create_agent, sync invoke)", without, with_)


def openai_agents() -> None:
    from agents import Agent, Runner, function_tool
    from agents.testing import ScriptedModel, assistant_message, function_call

    from signoff.openai_agents import SignoffGuard

    @function_tool
    def read_file(path: str) -> str:
        """Read a file."""
        return path

    counter = iter(range(10**9))

    def make(wrap: Callable[[Any], List[Any]]) -> Callable[[], object]:
        tools = wrap(read_file)

        def once() -> object:
            n = next(counter)
            model = ScriptedModel([[function_call("read_file", {"path": "/x"}, call_id=f"call_{n}")], [assistant_message("done")]])
            return asyncio.run(Runner.run(Agent(name="b", model=model, tools=tools), "go"))

        return once

    import copy

    from agents import ToolGuardrailFunctionOutput, tool_input_guardrail

    @tool_input_guardrail
    async def allow(data: Any) -> ToolGuardrailFunctionOutput:
        return ToolGuardrailFunctionOutput.allow()

    def guarded(t: Any) -> List[Any]:
        g = copy.copy(t)
        g.tool_input_guardrails = [allow]
        return [g]

    without = timed(make(lambda t: [t]), RUNS)
    with_ = {"no-op hook": timed(make(guarded), RUNS)}
    with_.update({s: timed(make(lambda t, s=s: SignoffGuard(gate(s)).tools([t])), RUNS) for s in STORES})  # type: ignore[misc]
    report("OpenAI Agents SDK (Runner.run, input guardrail)", without, with_)


def pydantic_ai() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from signoff.pydantic_ai import SignoffCapability

    def read_file(path: str) -> str:
        """Read a file."""
        return path

    counter = iter(range(10**9))

    def respond(messages: List[ModelMessage], info: AgentInfo) -> ModelResponse:
        if any(isinstance(p, ToolReturnPart) for m in messages for p in m.parts):
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart("read_file", {"path": "/x"}, tool_call_id=f"call_{next(counter)}")])

    def make(capabilities: List[Any]) -> Callable[[], object]:
        agent = Agent(FunctionModel(respond), tools=[read_file], capabilities=capabilities)
        return lambda: agent.run_sync("go")

    from pydantic_ai.capabilities import AbstractCapability

    class PassThrough(AbstractCapability[Any]):
        """A capability whose before_tool_execute returns the args: what any such hook costs."""

        async def before_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any) -> Any:
            return args

    without = timed(make([]), RUNS)
    with_: Dict[str, List[float]] = {"no-op hook": timed(make([PassThrough()]), RUNS)}
    with_.update({s: timed(make([SignoffCapability(gate(s))]), RUNS) for s in STORES})
    report("Pydantic AI (run_sync, before_tool_execute)", without, with_)


def raw_gate() -> None:
    counter = iter(range(10**9))
    for s in STORES:
        g = gate(s)

        def once() -> None:
            g.require("read_file", args={"path": "/x"}, id=f"raw-{next(counter)}").complete()

        samples = timed(once, RUNS)
        samples.sort()
        print(f"gate.require + complete, no framework ({s}): median {samples[len(samples) // 2] * 1e6:.1f} µs")


if __name__ == "__main__":
    raw_gate()
    langchain()
    openai_agents()
    pydantic_ai()
