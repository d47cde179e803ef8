// OpenAI Agents JS under test: its scripted model, the gated tools, one agent run.
import { Agent, run, setTracingDisabled } from '@openai/agents'
import { ScriptedModel, functionCall, assistantMessage } from '@openai/agents/testing'
import { z } from 'zod'
import { gateTool } from 'signoff/openai-agents'

setTracingDisabled(true)

const DEFINITIONS = {
  query: { parameters: z.object({ sql: z.string() }), out: (i) => `rows for ${i.sql}` },
  exec: { parameters: z.object({ sql: z.string() }), out: (i) => `ran ${i.sql}` },
  exportRows: { parameters: z.object({ table: z.string(), rows: z.number() }), out: (i) => `exported ${i.rows} rows of ${i.table}` },
  restart: { parameters: z.object({ service: z.string() }), out: (i) => `restarted ${i.service}` },
}

/** The tool() definitions (ungated); each run is recorded in `ran` as `[tool, input]`. */
export function definitions(ran) {
  return Object.entries(DEFINITIONS).map(([name, d]) => ({
    name,
    description: `the ${name} tool`,
    parameters: d.parameters,
    execute: async (input) => {
      ran.push([name, input])
      return d.out(input)
    },
  }))
}

/** The same tools, each built by gateTool. */
export function gatedTools(gate, ran, options) {
  return definitions(ran).map((d) => gateTool(d, gate, options))
}

/** A scripted model: `calls` (`[id, tool, input]`) in one turn, then `done`. */
export function scripted(calls) {
  const turns = calls ? [calls.map(([callId, name, input]) => functionCall(name, input, { callId })), [assistantMessage('done')]] : [[assistantMessage('done')]]
  return new ScriptedModel(turns)
}

export function agent(model, tools) {
  return new Agent({ name: 'ops', instructions: 'do the task', model, tools })
}

/** One agent run; resolves to `{ model, agent, result }`. */
export async function agentRun(tools, calls) {
  const model = scripted(calls)
  const a = agent(model, tools)
  const result = await run(a, 'do the task')
  return { model, agent: a, result }
}

/** What the model was last given as each call's result, by call id. */
export function seen(model) {
  const out = {}
  for (const item of model.lastCall.request.input) {
    if (item.type !== 'function_call_result') continue
    const output = item.output
    out[item.callId] = typeof output === 'string' ? output : output && output.type === 'text' ? output.text : JSON.stringify(output)
  }
  return out
}
