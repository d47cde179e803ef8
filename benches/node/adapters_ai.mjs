// Added latency of signoff/ai per allowed tool call: the same AI SDK v7 agent
// run (mock model, one tool call, then text) without and with gateTools.
//   node --preserve-symlinks benches/node/adapters_ai.mjs   (after scripts/test)
import { load, gate, compare } from './_adapters_bench.mjs'

const { generateText, tool, stepCountIs } = await load('ai')
const { MockLanguageModelV4 } = await load('ai/test')
const { z } = await load('zod')
const { gateTools, toolApproval } = await load('signoff/ai')

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } }
const raw = { query: tool({ inputSchema: z.object({ sql: z.string() }), execute: async ({ sql }) => `rows for ${sql}` }) }

function runner(tools, extra = {}) {
  return async (i) => {
    let step = 0
    const model = new MockLanguageModelV4({
      doGenerate: async () =>
        step++ === 0
          ? { content: [{ type: 'tool-call', toolCallId: `call_${i}`, toolName: 'query', input: '{"sql":"select 1"}' }], finishReason: { unified: 'tool-calls', raw: 'tool-calls' }, usage, warnings: [] }
          : { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
    })
    const result = await generateText({ model, tools, prompt: 'go', stopWhen: stepCountIs(3), ...extra })
    if (result.text !== 'done') throw new Error('the run did not finish')
  }
}

await compare('signoff/ai, AI SDK v7 generateText', [
  ['no adapter', runner(raw)],
  ['gateTools, JSONL every-record', runner(gateTools(raw, gate()))],
  ['gateTools, JSONL os-buffered', runner(gateTools(raw, gate('os-buffered')))],
  ['gateTools + toolApproval, JSONL os-buffered', runner(gateTools(raw, gate('os-buffered')), { toolApproval })],
])
