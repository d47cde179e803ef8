// Added latency of signoff/langchain per allowed tool call: the same
// createAgent run (fakeModel, one tool call, then a message) without and with
// signoffMiddleware.
//   node --preserve-symlinks benches/node/adapters_langchain.mjs   (after scripts/test)
import { load, gate, compare } from './_adapters_bench.mjs'

const { createAgent, createMiddleware, tool, fakeModel, AIMessage } = await load('langchain')
const { z } = await load('zod')
const { signoffMiddleware } = await load('signoff/langchain')

const query = tool(async ({ sql }) => `rows for ${sql}`, { name: 'query', description: 'read rows', schema: z.object({ sql: z.string() }) })
const passThrough = createMiddleware({ name: 'noop', wrapToolCall: (request, handler) => handler(request) })

function runner(middleware) {
  return async (i) => {
    const model = fakeModel().respond(new AIMessage({ content: '', tool_calls: [{ id: `call_${i}`, name: 'query', args: { sql: 'select 1' }, type: 'tool_call' }] })).respond(new AIMessage('done'))
    const agent = createAgent({ model, tools: [query], middleware })
    const state = await agent.invoke({ messages: [{ role: 'user', content: 'go' }] })
    if (state.messages.at(-1).content !== 'done') throw new Error('the run did not finish')
  }
}

await compare('signoff/langchain, createAgent invoke', [
  ['no middleware', runner([])],
  ['a pass-through wrapToolCall middleware', runner([passThrough])],
  ['signoffMiddleware, JSONL every-record', runner([signoffMiddleware(gate())])],
  ['signoffMiddleware, JSONL os-buffered', runner([signoffMiddleware(gate('os-buffered'))])],
], { runs: 400, warmup: 150 })
