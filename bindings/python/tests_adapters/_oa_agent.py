"""An OpenAI Agents SDK agent with the SDK's scripted fake model, for the
tests and for the child processes of the durable-mode tests:

    _oa_agent.py start|resume STORE TRAIL STATE_FILE RAN
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from agents import FunctionTool, RunResult, function_tool  # noqa: E402
from agents.testing import ScriptedModel, assistant_message, function_call  # noqa: E402

from _tools import record  # noqa: E402

Call = Tuple[str, Dict[str, Any], str]


def model(*calls: Call) -> ScriptedModel:
    """Calls the tools in one turn, then answers "done"."""
    return ScriptedModel([[function_call(n, a, call_id=i) for n, a, i in calls], [assistant_message("done")]])


def tools(ran: pathlib.Path) -> List[FunctionTool]:
    @function_tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        record(ran, "delete_file", path)
        return f"deleted {path}"

    @function_tool
    def read_file(path: str) -> str:
        """Read a file."""
        record(ran, "read_file", path)
        if path == "/boom":
            raise RuntimeError("disk on fire")
        return f"contents of {path}"

    @function_tool
    def drop_table(name: str) -> str:
        """Drop a table."""
        record(ran, "drop_table", name)
        return f"dropped {name}"

    @function_tool
    def restart(service: str) -> str:
        """Restart a service."""
        record(ran, "restart", service)
        return f"restarted {service}"

    return [delete_file, read_file, drop_table, restart]


def outputs(result: RunResult) -> Dict[str, str]:
    """call_id -> the tool output the model was sent."""
    return {i["call_id"]: str(i["output"]) for i in result.to_input_list() if isinstance(i, dict) and i.get("type") == "function_call_output"}


async def main() -> None:
    from agents import Agent, Runner, RunState

    from conftest import make_gate
    from signoff.openai_agents import SignoffGuard

    phase, store, trail, state_file, ran = sys.argv[1:6]
    gate = make_gate(store, pathlib.Path(trail))
    guard = SignoffGuard(gate, mode="durable", thread_id=lambda ctx: ctx["session"])
    fake = model(("delete_file", {"path": "/data/x"}, "call_1"), ("read_file", {"path": "/data/y"}, "call_2"))
    if phase == "resume":
        fake = ScriptedModel([[assistant_message("done")]])
    agent = Agent(name="ops", model=fake, tools=guard.tools(tools(pathlib.Path(ran))))
    if phase == "start":
        result = await Runner.run(agent, "clean up", context={"session": "s-1"})
        pathlib.Path(state_file).write_text(json.dumps(result.to_state().to_json()))
        report = {"interruptions": [[i.tool_name, i.call_id] for i in result.interruptions], "outputs": outputs(result)}
    else:
        state = await RunState.from_json(agent, json.loads(pathlib.Path(state_file).read_text()))
        still = await guard.resolve(state)
        result = await Runner.run(agent, state)
        report = {"still_pending": [i.call_id for i in still], "outputs": outputs(result), "final": result.final_output}
    gate.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
