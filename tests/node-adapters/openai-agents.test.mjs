// signoff/openai-agents through real OpenAI Agents JS runs (ScriptedModel from @openai/agents/testing).
import test from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { run, tool, RunState } from '@openai/agents'
import { z } from 'zod'
import { gateTool, signoffGuardrail, resolveApprovals } from 'signoff/openai-agents'
import { gatedTools, definitions, agentRun, agent, scripted, seen } from './openai-agents-sdk.mjs'
import { newGate, NAMES, verified, actionIds, pendingRequests, approve, breakStore, child, tmpDir, DENIED_DROP, DENIED_TIMEOUT } from './helpers.mjs'

test('openai-agents: an allowed call runs with its input, a denied one never runs and the model sees why, and the trail verifies naming each call id', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const { model } = await agentRun(gatedTools(gate, ran, { names: NAMES, session: 'run-1' }), [
    ['call_1', 'query', { sql: 'select 1' }],
    ['call_2', 'exec', { sql: 'DROP TABLE users' }],
  ])
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  assert.deepEqual(seen(model), { call_1: 'rows for select 1', call_2: DENIED_DROP })
  await gate.close()
  const all = verified(trail)
  assert.deepEqual(actionIds(trail).sort(), ['openai-agents:run-1:call_1', 'openai-agents:run-1:call_2'])
  assert.deepEqual(all.filter((r) => r.event === 'action.completed').map((r) => [r.action_id, r.outcome]), [['openai-agents:run-1:call_1', 'success']])
})

test('openai-agents: a call that needs approval waits in the guardrail, and runs once a reviewer approves', async () => {
  const { gate } = newGate()
  const ran = []
  const running = agentRun(gatedTools(gate, ran, { names: NAMES }), [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await pendingRequests(gate)
  assert.equal(request.action_id, 'openai-agents:call_1')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.deepEqual(ran, [])
  await approve(gate, request)
  const { model } = await running
  assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 5000 }]])
  assert.equal(seen(model).call_1, 'exported 5000 rows of users')
  await gate.close()
})

test("openai-agents: a reviewer's edit is what the tool runs with", async () => {
  const { gate } = newGate()
  const ran = []
  const running = agentRun(gatedTools(gate, ran, { names: NAMES }), [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await pendingRequests(gate)
  await approve(gate, request, { table: 'users', rows: 7 })
  const { model } = await running
  assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 7 }]])
  assert.equal(seen(model).call_1, 'exported 7 rows of users')
  await gate.close()
})

test('openai-agents: no decision in time denies and the tool never runs', async () => {
  const { gate } = newGate()
  const ran = []
  const first = await agentRun(gatedTools(gate, ran, { names: NAMES }), [['call_1', 'restart', { service: 'api' }]])
  assert.equal(seen(first.model).call_1, DENIED_TIMEOUT)
  const second = await agentRun(gatedTools(gate, ran, { names: NAMES, timeoutMs: 150 }), [['call_2', 'exportRows', { table: 'users', rows: 5000 }]])
  assert.equal(seen(second.model).call_2, 'signoff: denied (timeout): no decision within 150 ms')
  assert.deepEqual(ran, [])
  await gate.close()
})

test('openai-agents: a store outage denies', async () => {
  const { gate, dir } = newGate({ store: true })
  const ran = []
  const tools = gatedTools(gate, ran, { names: NAMES })
  breakStore(dir)
  const { model } = await agentRun(tools, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  assert.match(seen(model).call_1, /^signoff: denied \(store\): approval store `sqlite:.*` failed: file is not a database$/)
  assert.deepEqual(ran, [])
})

test("openai-agents: onDeny 'throw' trips the guardrail instead", async () => {
  const { gate } = newGate()
  const ran = []
  await assert.rejects(
    agentRun(gatedTools(gate, ran, { names: NAMES, onDeny: 'throw' }), [['call_1', 'exec', { sql: 'drop table users' }]]),
    (err) => /ToolInputGuardrailTripwireTriggered/.test(`${err.name} ${err.message}`),
  )
  assert.deepEqual(ran, [])
})

test('openai-agents: signoffGuardrail on a tool built by hand allows and denies, completes the permit, and refuses an edit it cannot apply', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const guard = signoffGuardrail(gate, { names: NAMES })
  const hand = definitions(ran).map((d) => tool({ ...d, inputGuardrails: [guard] }))
  const first = await agentRun(hand, [['call_1', 'query', { sql: 'select 1' }], ['call_2', 'exec', { sql: 'drop table t' }]])
  assert.deepEqual(seen(first.model), { call_1: 'rows for select 1', call_2: DENIED_DROP })
  const running = agentRun(hand, [['call_3', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await pendingRequests(gate)
  await approve(gate, request, { table: 'users', rows: 1 })
  const second = await running
  assert.equal(seen(second.model).call_3, 'signoff: denied (error): a reviewer edited the arguments; build the tool with gateTool so the edit is what runs')
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  await gate.close()
  const completed = verified(trail).filter((r) => r.event === 'action.completed' || r.event === 'action.abandoned')
  assert.equal(completed.length, 2)
})

// ---- durable mode: needsApproval + RunState ----

test('openai-agents durable: allowed and denied calls never interrupt; an approval interrupts, and after the vote resolveApprovals lets it run once with the edit', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const tools = gatedTools(gate, ran, { names: NAMES, durable: true })
  const first = await agentRun(tools, [
    ['call_1', 'query', { sql: 'select 1' }],
    ['call_2', 'exec', { sql: 'DROP TABLE users' }],
    ['call_3', 'exportRows', { table: 'users', rows: 5000 }],
  ])
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  assert.deepEqual(first.result.interruptions.map((i) => i.rawItem.callId), ['call_3'])
  const [request] = await gate.pending()
  assert.deepEqual(await resolveApprovals(first.result.state), { approved: [], rejected: [], pending: [{ callId: 'call_3', requestId: request.id }] })
  await approve(gate, request, { table: 'users', rows: 12 })
  const model = scripted()
  const resumedAgent = agent(model, tools)
  const state = await RunState.fromString(resumedAgent, first.result.state.toString())
  assert.deepEqual(await resolveApprovals(state), { approved: ['call_3'], rejected: [], pending: [] })
  const resumed = await run(resumedAgent, state)
  assert.equal(resumed.finalOutput, 'done')
  assert.deepEqual(ran, [['query', { sql: 'select 1' }], ['exportRows', { table: 'users', rows: 12 }]])
  assert.equal(seen(model).call_3, 'exported 12 rows of users')
  await gate.close()
  const all = verified(trail)
  assert.equal(all.filter((r) => r.event === 'approval.requested').length, 1)
  assert.equal(all.filter((r) => r.event === 'policy.decided').length, 3, 'one decision per call, though the SDK asked again after the restore')
})

test('openai-agents durable: a reviewer denial is rejected with the deny text', async () => {
  const { gate } = newGate()
  const ran = []
  const tools = gatedTools(gate, ran, { names: NAMES, durable: true })
  const first = await agentRun(tools, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await gate.pending()
  await gate.vote(request.id, { voter: 'user:dan@example.com', verdict: 'deny', comment: 'not this week' })
  const model = scripted()
  const resumedAgent = agent(model, tools)
  const state = await RunState.fromString(resumedAgent, first.result.state.toString())
  assert.deepEqual(await resolveApprovals(state), { approved: [], rejected: ['call_1'], pending: [] })
  await run(resumedAgent, state)
  assert.equal(seen(model).call_1, 'signoff: denied (rule export): denied by reviewer `user:dan@example.com` — "not this week"')
  assert.deepEqual(ran, [])
})

test('openai-agents durable: approving on the state by hand, without signoff, does not run the tool', async () => {
  const { gate } = newGate()
  const ran = []
  const tools = gatedTools(gate, ran, { names: NAMES, durable: true })
  const first = await agentRun(tools, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const model = scripted()
  const resumedAgent = agent(model, tools)
  const state = await RunState.fromString(resumedAgent, first.result.state.toString())
  for (const item of state.getInterruptions()) state.approve(item)
  await run(resumedAgent, state)
  const [request] = await gate.pending()
  assert.equal(seen(model).call_1, `signoff: denied (not approved): request \`${request.id}\` is not approved in signoff`)
  assert.deepEqual(ran, [])
})

test('openai-agents durable: a state whose call was rewritten to other args does not run, approved by hand or not', async () => {
  const { gate } = newGate()
  const ran = []
  const tools = gatedTools(gate, ran, { names: NAMES, durable: true })
  const first = await agentRun(tools, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  const [request] = await gate.pending()
  await approve(gate, request)
  const tampered = first.result.state.toString().split('\\"users\\"').join('\\"salaries\\"')
  assert.notEqual(tampered, first.result.state.toString())
  const state = await RunState.fromString(agent(scripted(), tools), tampered)
  assert.equal(JSON.parse(state.getInterruptions()[0].rawItem.arguments).table, 'salaries')
  const resolved = await resolveApprovals(state)
  assert.deepEqual(resolved, { approved: [], rejected: ['call_1'], pending: [] })
  const model = scripted()
  const resumedAgent = agent(model, tools)
  const byHand = await RunState.fromString(resumedAgent, tampered)
  for (const item of byHand.getInterruptions()) byHand.approve(item)
  await run(resumedAgent, byHand)
  assert.match(seen(model).call_1, /^signoff: denied \(id reused\): action id `openai-agents:call_1` already names a different action/)
  assert.deepEqual(ran, [])
})

test('openai-agents durable: pause, vote from another process, resume in a new process: the tool runs once and no second request is made', () => {
  const dir = tmpDir()
  const paused = child('openai-agents.mjs', ['pause', dir])
  assert.deepEqual(paused.interruptions, ['call_1'])
  assert.deepEqual(paused.ran, [])
  const voted = child('vote.mjs', [dir, JSON.stringify({ table: 'users', rows: 99 })])
  assert.deepEqual(voted, { voted: ['openai-agents:thread-5:call_1'], statuses: ['approved'] })
  const resumed = child('openai-agents.mjs', ['resume', dir])
  assert.deepEqual(resumed.resolved, { approved: ['call_1'], rejected: [], pending: [] })
  assert.deepEqual(resumed.ran, [['exportRows', { table: 'users', rows: 99 }]])
  assert.equal(resumed.seen.call_1, 'exported 99 rows of users')
  const again = child('openai-agents.mjs', ['resume', dir])
  assert.deepEqual(again.ran, [['exportRows', { table: 'users', rows: 99 }]], 'resuming the same state again does not run the tool again')
  assert.match(again.seen.call_1, /^signoff: denied \(used\)/)
  const all = ['agent-pause', 'reviewer', 'agent-resume'].flatMap((stream) => verified(path.join(dir, `${stream}.jsonl`)))
  assert.equal(all.filter((r) => r.event === 'approval.requested').length, 1, 'one approval request in all')
  assert.equal(all.filter((r) => r.event === 'action.completed').length, 1)
})

test('openai-agents: gateTool refuses what it cannot gate', () => {
  const { gate } = newGate()
  assert.throws(() => gateTool({ name: 'x' }, gate), /needs|must be tool\(\) options/)
  assert.throws(() => gateTool({ name: 'x', parameters: z.object({}), execute: () => '', needsApproval: true }, gate, { durable: true }), /has its own needsApproval/)
  assert.throws(() => gateTool({ name: 'x', parameters: z.object({}), execute: () => '' }, 'gate'), /must be a signoff Gate/)
})
