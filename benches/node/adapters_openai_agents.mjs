// Added latency of signoff/openai-agents per allowed tool call: the same
// Agents JS run (ScriptedModel, one tool call, then a message) with a plain
// tool() and with gateTool (blocking guardrail, and durable mode).
//   node --preserve-symlinks benches/node/adapters_openai_agents.mjs   (after scripts/test)
import { load, gate, compare } from './_adapters_bench.mjs'

const { Agent, run, tool, setTracingDisabled } = await load('@openai/agents')
const { ScriptedModel, functionCall, assistantMessage } = await load('@openai/agents/testing')
const { z } = await load('zod')
const { gateTool } = await load('signoff/openai-agents')
setTracingDisabled(true)

const definition = { name: 'query', description: 'read rows', parameters: z.object({ sql: z.string() }), execute: async ({ sql }) => `rows for ${sql}` }

function runner(built) {
  return async (i) => {
    const model = new ScriptedModel([[functionCall('query', { sql: 'select 1' }, { callId: `call_${i}` })], [assistantMessage('done')]])
    const result = await run(new Agent({ name: 'bench', model, tools: [built] }), 'go')
    if (result.finalOutput !== 'done') throw new Error('the run did not finish')
  }
}

await compare('signoff/openai-agents, Agents JS run', [
  ['no adapter (tool())', runner(tool(definition))],
  ['gateTool, JSONL every-record', runner(gateTool(definition, gate()))],
  ['gateTool, JSONL os-buffered', runner(gateTool(definition, gate('os-buffered')))],
  ['gateTool durable, JSONL os-buffered', runner(gateTool(definition, gate('os-buffered'), { durable: true }))],
])
