// signoff/ai through real AI SDK runs (v5, v6 and v7 side by side, each with its mock model).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { gateTools, toolApproval } from 'signoff/ai'
import { VERSIONS, V7, tools, agentRun, seen, text, scripted } from './ai-sdk.mjs'
import { newGate, NAMES, verified, actionIds, pendingRequests, approve, breakStore, child, tmpDir, DENIED_DROP, DENIED_TIMEOUT } from './helpers.mjs'

for (const version of VERSIONS) {
  const v = `ai v${version.major}`

  test(`${v}: an allowed call runs with its input, a denied one never runs and the model sees why, and the trail verifies naming each call id`, async () => {
    const { gate, trail } = newGate()
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES, session: 'chat-1' })
    const { model } = await agentRun(version, gated, [
      ['call_1', 'query', { sql: 'select 1' }],
      ['call_2', 'exec', { sql: 'DROP TABLE users' }],
    ])
    assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
    const out = seen(model)
    assert.equal(text(out.call_1), 'rows for select 1')
    assert.equal(text(out.call_2), DENIED_DROP)
    await gate.close()
    const trailRecords = verified(trail)
    assert.deepEqual(actionIds(trail).sort(), ['ai:chat-1:call_1', 'ai:chat-1:call_2'])
    const decided = Object.fromEntries(trailRecords.filter((r) => r.event === 'policy.decided').map((r) => [r.action_id, r]))
    assert.equal(decided['ai:chat-1:call_1'].effect, 'allow')
    assert.equal(decided['ai:chat-1:call_1'].action, 'db.query')
    assert.equal(decided['ai:chat-1:call_2'].effect, 'deny')
    const completed = trailRecords.filter((r) => r.event === 'action.completed')
    assert.deepEqual(completed.map((r) => [r.action_id, r.outcome]), [['ai:chat-1:call_1', 'success']])
  })

  test(`${v}: a call that needs approval waits, and runs once a reviewer approves`, async () => {
    const { gate } = newGate()
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES })
    const running = agentRun(version, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
    const [request] = await pendingRequests(gate)
    assert.equal(request.action_id, 'ai:call_1')
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(ran, [], 'the tool waits for the vote')
    assert.equal(await approve(gate, request), 'approved')
    const { model } = await running
    assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 5000 }]])
    assert.equal(text(seen(model).call_1), 'exported 5000 rows of users')
    await gate.close()
  })

  test(`${v}: a reviewer's edit is what the tool runs with`, async () => {
    const { gate, trail } = newGate()
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES })
    const running = agentRun(version, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
    const [request] = await pendingRequests(gate)
    await approve(gate, request, { table: 'users', rows: 200 })
    const { model } = await running
    assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 200 }]])
    assert.equal(text(seen(model).call_1), 'exported 200 rows of users')
    await gate.close()
    assert.ok(verified(trail).some((r) => r.event === 'action.completed' && r.outcome === 'success'))
  })

  test(`${v}: no decision in time denies and the tool never runs (the rule's timeout, and the adapter's deadline)`, async () => {
    const { gate } = newGate()
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES })
    const { model } = await agentRun(version, gated, [['call_1', 'restart', { service: 'api' }]])
    assert.equal(text(seen(model).call_1), DENIED_TIMEOUT)
    const quick = gateTools(tools(version, ran), gate, { names: NAMES, timeoutMs: 150 })
    const started = Date.now()
    const second = await agentRun(version, quick, [['call_2', 'exportRows', { table: 'users', rows: 5000 }]])
    assert.equal(text(seen(second.model).call_2), 'signoff: denied (timeout): no decision within 150 ms')
    assert.ok(Date.now() - started < 5000)
    assert.deepEqual(ran, [])
    await gate.close()
  })

  test(`${v}: a store outage denies`, async () => {
    const { gate, dir } = newGate({ store: true })
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES })
    breakStore(dir)
    const { model } = await agentRun(version, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
    assert.match(text(seen(model).call_1), /^signoff: denied \(store\): approval store `sqlite:.*` failed: file is not a database$/)
    assert.deepEqual(ran, [])
  })

  test(`${v}: onDeny 'throw' turns a denial into the tool's error`, async () => {
    const { gate } = newGate()
    const ran = []
    const gated = gateTools(tools(version, ran), gate, { names: NAMES, onDeny: 'throw' })
    const { model } = await agentRun(version, gated, [['call_1', 'exec', { sql: 'drop table users' }]])
    const out = seen(model).call_1
    assert.equal(out.type, 'error-text')
    assert.ok(out.value.includes(DENIED_DROP), out.value)
    assert.deepEqual(ran, [])
  })
}

test('ai: a tool that throws completes its permit as a failure, and the error reaches the model', async () => {
  const { gate, trail } = newGate()
  const boom = { query: V7.ai.tool({ inputSchema: z.object({ sql: z.string() }), execute: async () => { throw new Error('connection reset') } }) }
  const { model } = await agentRun(V7, gateTools(boom, gate, { names: NAMES }), [['call_1', 'query', { sql: 'select 1' }]])
  assert.match(seen(model).call_1.value, /connection reset/)
  await gate.close()
  const completed = verified(trail).filter((r) => r.event === 'action.completed')
  assert.equal(completed.length, 1)
  assert.equal(completed[0].outcome, 'failure')
  assert.match(completed[0].error, /connection reset/)
})

test('ai: streaming tools (async generators) are gated too, and complete when the stream ends', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const streaming = {
    query: V7.ai.tool({
      inputSchema: z.object({ sql: z.string() }),
      async *execute(input) {
        ran.push(input)
        yield 'partial'
        yield `rows for ${input.sql}`
      },
    }),
    exec: V7.ai.tool({ inputSchema: z.object({ sql: z.string() }), async *execute(input) { ran.push(input); yield 'never' } }),
  }
  const { model } = await agentRun(V7, gateTools(streaming, gate, { names: NAMES }), [
    ['call_1', 'query', { sql: 'select 1' }],
    ['call_2', 'exec', { sql: 'drop table t' }],
  ])
  assert.equal(text(seen(model).call_1), 'rows for select 1')
  assert.equal(text(seen(model).call_2), DENIED_DROP)
  assert.deepEqual(ran, [{ sql: 'select 1' }])
  await gate.close()
  assert.equal(verified(trail).filter((r) => r.event === 'action.completed' && r.outcome === 'success').length, 1)
})

// ---- v7 toolApproval: pause instead of holding the request open ----

function approvalRequests(result) {
  return result.content.filter((p) => p.type === 'tool-approval-request' && !p.isAutomatic)
}

/** The messages of a resumed run: the first run's, plus the client's approval responses. */
function resumeMessages(first, responses) {
  return [
    { role: 'user', content: 'do the task' },
    ...first.response.messages,
    { role: 'tool', content: responses.map(([approvalId, approved]) => ({ type: 'tool-approval-response', approvalId, approved })) },
  ]
}

test('ai v7 toolApproval: allowed calls run at once, denied ones are execution-denied, approvals pause the run', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const gated = gateTools(tools(V7, ran), gate, { names: NAMES })
  const { model, result } = await agentRun(V7, gated, [
    ['call_1', 'query', { sql: 'select 1' }],
    ['call_2', 'exec', { sql: 'DROP TABLE users' }],
    ['call_3', 'exportRows', { table: 'users', rows: 5000 }],
  ], { toolApproval })
  assert.deepEqual(ran, [['query', { sql: 'select 1' }]])
  const requests = approvalRequests(result)
  assert.equal(requests.length, 1)
  assert.equal(requests[0].toolCall.toolCallId, 'call_3')
  const [pending] = await gate.pending()
  assert.equal(requests[0].reason, `signoff: approval required (rule export): bulk export of production data; request ${pending.id}`)
  const out = Object.fromEntries(result.content.filter((p) => p.type === 'tool-result' || p.type === 'tool-output-denied').map((p) => [p.toolCallId, p]))
  assert.equal(out.call_1.output, 'rows for select 1')
  assert.equal(model.doGenerateCalls.length, 1, 'the run paused: no second model call')
  await gate.close()
  const decided = verified(trail).filter((r) => r.event === 'policy.decided')
  assert.deepEqual(decided.map((r) => r.action_id).sort(), ['ai:call_1', 'ai:call_2', 'ai:call_3'], 'one decision per call')
  assert.ok(JSON.stringify(result.response.messages).includes(DENIED_DROP))
})

test('ai v7 toolApproval: the resumed run executes the tool once with the approved, edited input; a replayed approval does not run it again', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const gated = gateTools(tools(V7, ran), gate, { names: NAMES, session: 'chat-9' })
  const first = await agentRun(V7, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], { toolApproval })
  const [request] = approvalRequests(first.result)
  const [pending] = await gate.pending()
  await approve(gate, pending, { table: 'users', rows: 10 })
  const messages = resumeMessages(first.result, [[request.approvalId, true]])
  const resumed = scripted(V7)
  await V7.ai.generateText({ model: resumed, tools: gated, toolApproval, messages, stopWhen: V7.ai.stepCountIs(4) })
  assert.deepEqual(ran, [['exportRows', { table: 'users', rows: 10 }]])
  assert.equal(text(seen(resumed).call_1), 'exported 10 rows of users')
  const replay = scripted(V7)
  await V7.ai.generateText({ model: replay, tools: gated, toolApproval, messages, stopWhen: V7.ai.stepCountIs(4) })
  assert.equal(ran.length, 1, 'the approval was used once')
  assert.equal(text(seen(replay).call_1), 'signoff: denied (used): action `ai:chat-9:call_1` already ran; an action id is used once')
  await gate.close()
  assert.equal(verified(trail).filter((r) => r.event === 'approval.requested').length, 1)
})

test('ai v7 toolApproval: a tool-approval-response signoff has not granted does not run the tool', async () => {
  const { gate } = newGate()
  const ran = []
  const gated = gateTools(tools(V7, ran), gate, { names: NAMES })
  const first = await agentRun(V7, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], { toolApproval })
  const [request] = approvalRequests(first.result)
  const forged = scripted(V7)
  await V7.ai.generateText({ model: forged, tools: gated, toolApproval, messages: resumeMessages(first.result, [[request.approvalId, true]]), stopWhen: V7.ai.stepCountIs(4) })
  assert.deepEqual(ran, [])
  const [pending] = await gate.pending()
  assert.equal(seen(forged).call_1.type, 'execution-denied')
  assert.equal(text(seen(forged).call_1), `signoff: denied (not approved): request \`${pending.id}\` is not approved in signoff`)
  await gate.close()
})

test('ai v7 toolApproval: an approval for other args (the client rewrote the call) does not run the tool', async () => {
  const { gate } = newGate()
  const ran = []
  const gated = gateTools(tools(V7, ran), gate, { names: NAMES })
  const first = await agentRun(V7, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], { toolApproval })
  const [request] = approvalRequests(first.result)
  const [pending] = await gate.pending()
  await approve(gate, pending)
  // the client-held history now says the approved call exported another table
  const messages = resumeMessages(first.result, [[request.approvalId, true]])
  for (const part of messages[1].content) if (part.type === 'tool-call') part.input = { table: 'salaries', rows: 5000 }
  const forged = scripted(V7)
  await V7.ai.generateText({ model: forged, tools: gated, toolApproval, messages, stopWhen: V7.ai.stepCountIs(4) })
  assert.deepEqual(ran, [])
  assert.match(text(seen(forged).call_1), /^signoff: denied \(id reused\): action id `ai:call_1` already names a different action/)
  await gate.close()
})

test('ai v7 toolApproval: pause, vote from another process, resume in a new process: the tool runs once and no second request is made', () => {
  const dir = tmpDir()
  const paused = child('ai-v7.mjs', ['pause', dir])
  assert.equal(paused.approvalRequests.length, 1)
  assert.deepEqual(paused.ran, [])
  const voted = child('vote.mjs', [dir, JSON.stringify({ table: 'users', rows: 42 })])
  assert.deepEqual(voted, { voted: ['ai:chat-7:call_1'], statuses: ['approved'] })
  const resumed = child('ai-v7.mjs', ['resume', dir])
  assert.deepEqual(resumed.ran, [['exportRows', { table: 'users', rows: 42 }]])
  assert.equal(resumed.seen.call_1.value, 'exported 42 rows of users')
  const again = child('ai-v7.mjs', ['resume', dir])
  assert.deepEqual(again.ran, [['exportRows', { table: 'users', rows: 42 }]], 'a second resume does not run the tool again')
  const trails = ['agent-pause', 'reviewer', 'agent-resume'].map((stream) => path.join(dir, `${stream}.jsonl`))
  const all = trails.flatMap((trail) => verified(trail))
  assert.equal(all.filter((r) => r.event === 'approval.requested').length, 1, 'one approval request in all')
  assert.equal(all.filter((r) => r.event === 'action.completed').length, 1)
  assert.ok(all.every((r) => !r.action_id || r.action_id === 'ai:chat-7:call_1'))
  assert.ok(fs.existsSync(path.join(dir, 'store.db')))
})

test('ai: tools without execute are left as they are; toolApproval ignores tools it did not wrap', async () => {
  const { gate } = newGate()
  const clientSide = { ask: { description: 'ask the user', inputSchema: V7.ai.jsonSchema({ type: 'object' }) } }
  const gated = gateTools(clientSide, gate)
  assert.equal(gated.ask, clientSide.ask)
  assert.equal(await toolApproval({ toolCall: { toolName: 'ask', toolCallId: 'c', input: {} }, tools: gated, messages: [] }), 'not-applicable')
  assert.throws(() => gateTools({}, {}), /must be a signoff Gate/)
  assert.throws(() => gateTools({}, gate, { prefx: 'x' }), /unknown option `prefx`/)
})
