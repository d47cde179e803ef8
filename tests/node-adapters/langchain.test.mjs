// signoff/langchain through real LangChain.js v1 agents (createAgent + fakeModel).
import test from 'node:test'
import assert from 'node:assert/strict'
import { createAgent, tool, fakeModel, AIMessage } from 'langchain'
import { MemorySaver, Command } from '@langchain/langgraph'
import { z } from 'zod'
import { signoffMiddleware } from 'signoff/langchain'
import { newGate, NAMES, verified, actionIds, pendingRequests, approve, breakStore, DENIED_DROP, DENIED_TIMEOUT } from './helpers.mjs'

function tools(ran) {
  const make = (name, schema, out) =>
    tool(async (input) => {
      ran.push([name, input])
      return out(input)
    }, { name, description: `the ${name} tool`, schema })
  return [
    make('query', z.object({ sql: z.string() }), (i) => `rows for ${i.sql}`),
    make('exec', z.object({ sql: z.string() }), (i) => `ran ${i.sql}`),
    make('exportRows', z.object({ table: z.string(), rows: z.number() }), (i) => `exported ${i.rows} rows of ${i.table}`),
    make('restart', z.object({ service: z.string() }), (i) => `restarted ${i.service}`),
    tool(async () => {
      throw new Error('connection reset')
    }, { name: 'flaky', description: 'fails', schema: z.object({ sql: z.string() }) }),
  ]
}

/** A model that says `text` and makes `calls` (`[id, tool, args]`), then says done. */
function model(calls, text = '') {
  return fakeModel()
    .respond(new AIMessage({ content: text, tool_calls: calls.map(([id, name, args]) => ({ id, name, args, type: 'tool_call' })) }))
    .respond(new AIMessage('done'))
}

function toolMessages(state) {
  return Object.fromEntries(state.messages.filter((m) => m.tool_call_id).map((m) => [m.tool_call_id, { content: m.content, status: m.status }]))
}

async function agentRun(gate, calls, options = {}, { text, thread = 't-1' } = {}) {
  const ran = []
  const agent = createAgent({
    model: model(calls, text),
    tools: tools(ran),
    middleware: [signoffMiddleware(gate, { names: { ...NAMES, flaky: 'db.query' }, ...options })],
    checkpointer: new MemorySaver(),
  })
  const config = { configurable: { thread_id: thread } }
  const state = await agent.invoke({ messages: [{ role: 'user', content: 'do the task' }] }, config)
  return { ran, agent, config, state }
}

test('langchain: an allowed call runs with its input, a denied one never runs and the model sees why, and the trail verifies naming each call id', async () => {
  const { gate, trail } = newGate()
  const { ran, state } = await agentRun(gate, [['call_1', 'query', { sql: 'select 1' }], ['call_2', 'exec', { sql: 'DROP TABLE users' }]], {}, { text: 'Reading first, then cleaning up.' })
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  assert.deepEqual(toolMessages(state), {
    call_1: { content: 'rows for select 1', status: 'success' },
    call_2: { content: DENIED_DROP, status: 'error' },
  })
  await gate.close()
  const all = verified(trail)
  assert.deepEqual(actionIds(trail).sort(), ['langchain:t-1:call_1', 'langchain:t-1:call_2'])
  const decided = all.find((r) => r.event === 'policy.decided' && r.action_id === 'langchain:t-1:call_1')
  assert.equal(decided.effect, 'allow')
  assert.deepEqual(all.filter((r) => r.event === 'action.completed').map((r) => [r.action_id, r.outcome]), [['langchain:t-1:call_1', 'success']])
})

test('langchain: a call that needs approval waits in the middleware, and runs once a reviewer approves', async () => {
  const { gate } = newGate()
  const running = agentRun(gate, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], {}, { text: 'The finance team asked for the users table.' })
  const [request] = await pendingRequests(gate)
  assert.equal(request.action_id, 'langchain:t-1:call_1')
  assert.equal(request.justification, 'The finance team asked for the users table.')
  assert.equal(request.context.threadId, 't-1')
  await approve(gate, request)
  const { ran, state } = await running
  assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 5000 }]])
  assert.equal(toolMessages(state).call_1.content, 'exported 5000 rows of users')
  await gate.close()
})

test("langchain: a reviewer's edit is what the tool runs with", async () => {
  const { gate } = newGate()
  const running = agentRun(gate, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await pendingRequests(gate)
  await approve(gate, request, { table: 'users', rows: 3 })
  const { ran, state } = await running
  assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 3 }]])
  assert.equal(toolMessages(state).call_1.content, 'exported 3 rows of users')
  await gate.close()
})

test('langchain: no decision in time denies and the tool never runs', async () => {
  const { gate } = newGate()
  const first = await agentRun(gate, [['call_1', 'restart', { service: 'api' }]])
  assert.deepEqual(toolMessages(first.state).call_1, { content: DENIED_TIMEOUT, status: 'error' })
  const second = await agentRun(gate, [['call_2', 'exportRows', { table: 'users', rows: 5000 }]], { timeoutMs: 150 })
  assert.equal(toolMessages(second.state).call_2.content, 'signoff: denied (timeout): no decision within 150 ms')
  assert.deepEqual([...first.ran, ...second.ran], [])
  await gate.close()
})

test('langchain: a store outage denies', async () => {
  const { gate, dir } = newGate({ store: true })
  breakStore(dir)
  const { ran, state } = await agentRun(gate, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  assert.match(toolMessages(state).call_1.content, /^signoff: denied \(store\): approval store `sqlite:.*` failed: file is not a database$/)
  assert.deepEqual(ran, [])
})

test("langchain: a tool that fails completes its permit as a failure; onDeny 'throw' raises instead of answering", async () => {
  const { gate, trail } = newGate()
  // LangChain.js v1 lets a tool's error end the run (no ToolMessage)
  await assert.rejects(agentRun(gate, [['call_1', 'flaky', { sql: 'select 1' }]]), /connection reset/)
  // LangChain wraps a middleware's error in a MiddlewareError; ours is its cause
  await assert.rejects(agentRun(gate, [['call_2', 'exec', { sql: 'drop table t' }]], { onDeny: 'throw' }), (err) => err.cause.code === 'SIGNOFF_DENIED' && err.cause.message === DENIED_DROP)
  await gate.close()
  const completed = verified(trail).filter((r) => r.event === 'action.completed')
  assert.deepEqual(completed.map((r) => r.outcome), ['failure'])
})

test('langchain interrupt mode: a call that needs approval pauses the graph; after the vote the resume runs it once, with the edit, and makes no second request', async () => {
  const { gate, trail } = newGate()
  const { ran, agent, config, state } = await agentRun(gate, [['call_1', 'exportRows', { table: 'users', rows: 5000 }], ['call_2', 'query', { sql: 'select 1' }]], { mode: 'interrupt' })
  const [interrupt] = state.__interrupt__
  const [request] = await gate.pending()
  assert.deepEqual(interrupt.value, { signoff: { requestId: request.id, actionId: 'langchain:t-1:call_1', toolCallId: 'call_1', tool: 'exportRows' } })
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  await approve(gate, request, { table: 'users', rows: 8 })
  const resumed = await agent.invoke(new Command({ resume: 'approved' }), config)
  assert.deepEqual(ran, [['query', { sql: 'select 1' }], ['exportRows', { table: 'users', rows: 8 }]])
  assert.equal(toolMessages(resumed).call_1.content, 'exported 8 rows of users')
  await gate.close()
  const all = verified(trail)
  assert.equal(all.filter((r) => r.event === 'approval.requested').length, 1)
  assert.equal(all.filter((r) => r.event === 'policy.decided' && r.action_id === 'langchain:t-1:call_1').length, 1)
})

test('langchain interrupt mode: resuming before signoff approved (whatever the resume value says) does not run the tool', async () => {
  const { gate } = newGate()
  const { ran, agent, config } = await agentRun(gate, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], { mode: 'interrupt' })
  const [request] = await gate.pending()
  const resumed = await agent.invoke(new Command({ resume: { approved: true } }), config)
  assert.deepEqual(toolMessages(resumed).call_1, { content: `signoff: denied (not approved): request \`${request.id}\` is not approved in signoff`, status: 'error' })
  assert.deepEqual(ran, [])
})

test('langchain interrupt mode without a checkpointer denies instead of pausing', async () => {
  const { gate } = newGate()
  const ran = []
  const agent = createAgent({ model: model([['call_1', 'exportRows', { table: 'users', rows: 5000 }]]), tools: tools(ran), middleware: [signoffMiddleware(gate, { names: NAMES, mode: 'interrupt' })] })
  const state = await agent.invoke({ messages: [{ role: 'user', content: 'do the task' }] })
  assert.equal(toolMessages(state).call_1.content, 'signoff: denied (error): interrupt mode needs a checkpointer and a `thread_id` in the run config')
  assert.deepEqual(ran, [])
})

test('langchain: options are checked', () => {
  const { gate } = newGate()
  assert.throws(() => signoffMiddleware(gate, { mode: 'later' }), /`mode` must be "blocking" or "interrupt"/)
  assert.throws(() => signoffMiddleware(gate, { timeoutMs: -1 }), /`timeoutMs` must be a positive number/)
  assert.throws(() => signoffMiddleware(null), /must be a signoff Gate/)
})
