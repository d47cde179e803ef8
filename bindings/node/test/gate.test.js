'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const signoff = require('..')
const { Policy, Gate, DeniedError, TimeoutError, VoteRejectedError, ApproverError, AuditError, SignoffError, InvalidActionError, NoApproverError } = signoff
const { POLICY, tmpTrail, cli, events, exportAction } = require('./helpers.js')

const policy = () => Policy.fromToml(POLICY)

const approving = (edit) => ({
  seen: [],
  review(request) {
    this.seen.push(request)
    return [
      { voter: 'user:carol@example.com', verdict: 'approve', args: edit, argsDigest: request.args_digest },
      { voter: 'user:dan@example.com', verdict: 'approve' },
    ]
  },
})

test('allow, deny and approve through require', async () => {
  const trail = tmpTrail()
  const approver = approving()
  const gate = new Gate({ policy: policy(), audit: trail, approver })
  const permit = await gate.require({ name: 'db.query', actor: 'agent:bot', args: { sql: 'select 1' } })
  assert.deepEqual(permit.approvedBy, [])
  await permit.complete({ ok: true })
  await assert.rejects(gate.require({ name: 'sql.exec', actor: 'agent:bot', args: { sql: 'DROP TABLE users' } }), (err) => {
    assert.ok(err instanceof DeniedError && err instanceof SignoffError)
    assert.equal(err.code, 'SIGNOFF_DENIED')
    assert.equal(err.rule, 'no-drop')
    assert.equal(err.reason, 'destructive DDL is never run by agents')
    return true
  })
  const approved = await gate.require(exportAction())
  assert.deepEqual([...approved.approvedBy].sort(), ['user:carol@example.com', 'user:dan@example.com'])
  await approved.complete({ ok: true, detail: 'written' })
  assert.match(approver.seen[0].args.password, /^redacted:ephemeral-/)
  assert.ok(!fs.readFileSync(trail, 'utf8').includes('hunter2'))
  await assert.rejects(approved.complete(), { code: 'SIGNOFF_USED' })
})

test('a JS approver can deny with a comment, and edit args', async () => {
  const denying = { review: async () => ({ voter: 'user:carol@example.com', verdict: 'deny', comment: 'not today' }) }
  const gate = new Gate({ policy: policy(), audit: tmpTrail(), approver: denying })
  await assert.rejects(gate.require(exportAction()), (err) => err instanceof DeniedError && err.voter === 'user:carol@example.com' && err.comment === 'not today')

  const edited = { rows: 2000, password: 'hunter2' }
  const editing = new Gate({ policy: policy(), audit: tmpTrail(), approver: approving(edited) })
  const permit = await editing.require(exportAction())
  assert.deepEqual(permit.args, edited)
  await permit.complete()

  const tooMuch = new Gate({ policy: policy(), audit: tmpTrail(), approver: approving({ rows: 5000000 }) })
  await assert.rejects(tooMuch.require(exportAction()), /too much data/)
})

test('self-approval is rejected and audited', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: policy(), audit: trail, approver: 'queue' })
  const { pending } = await gate.submit(exportAction())
  assert.ok(pending)
  await assert.rejects(gate.vote(pending, { voter: 'user:alice@example.com' }), (err) => err instanceof VoteRejectedError && err.reason === 'self_approval')
  assert.equal(await gate.vote(pending, { voter: 'user:carol@example.com' }), 'pending')
  assert.equal(await gate.vote(pending, { voter: 'user:dan@example.com' }), 'approved')
  await (await gate.resume(pending)).complete()
  assert.ok(events(trail).includes('approval.vote_rejected'))
})

test('nobody answering rejects with a timeout error', async () => {
  const gate = new Gate({ policy: policy(), audit: tmpTrail(), approver: 'queue' })
  await assert.rejects(gate.require({ name: 'ops.restart', actor: 'agent:ops' }), (err) => err instanceof TimeoutError && err.code === 'SIGNOFF_TIMEOUT' && err.rule === 'quick')
})

test('guard requires, runs with approved args and completes', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: policy(), audit: trail, approver: 'queue' })
  const calls = []
  const query = gate.guard('db.query', async (sql) => {
    calls.push(sql)
    return sql.length
  }, { actor: 'agent:bot', env: 'prod' })
  assert.equal(await query('select 1'), 8)
  const failing = gate.guard('db.query', () => {
    throw new Error('connection reset')
  }, { actor: 'agent:bot' })
  await assert.rejects(failing(), /connection reset/)
  const drop = gate.guard('sql.exec', () => assert.fail('must not run'), { actor: 'agent:bot', args: (sql) => ({ sql }) })
  await assert.rejects(drop('DROP TABLE users'), DeniedError)
  const records = fs.readFileSync(trail, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  const completed = records.filter((r) => r.event === 'action.completed')
  assert.deepEqual(completed.map((r) => r.outcome), ['success', 'failure'])
  assert.match(completed[1].error, /connection reset/)
  assert.deepEqual(calls, ['select 1'])
})

test('a JS approver that throws fails closed and is reported', async () => {
  const gate = new Gate({ policy: policy(), audit: tmpTrail(), approver: { review() { throw new Error('slack token missing') } } })
  await assert.rejects(gate.require(exportAction()), (err) => err instanceof ApproverError && /slack token missing/.test(err.message))
  const rejecting = new Gate({ policy: policy(), audit: tmpTrail(), approver: { review: () => Promise.reject(new Error('webhook 500')) } })
  await assert.rejects(rejecting.require(exportAction()), (err) => err.code === 'SIGNOFF_APPROVER' && /webhook 500/.test(err.message))
})

test('1,000 concurrent requires resolve', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: policy(), audit: trail })
  const permits = await Promise.all(Array.from({ length: 1000 }, (_, i) => gate.require({ name: 'db.query', actor: 'agent:bot', args: { i } })))
  assert.equal(new Set(permits.map((p) => p.actionId)).size, 1000)
  await Promise.all(permits.map((p) => p.complete()))
  await gate.close() // completions are queued; close writes them (DESIGN §15)
  assert.equal(events(trail).filter((e) => e === 'action.completed').length, 1000)
})

test('bad inputs give the right error with a clear message', async () => {
  const gate = new Gate({ policy: policy(), audit: tmpTrail() })
  const q = (args) => gate.require({ name: 'db.query', actor: 'agent:bot', args })
  await assert.rejects(q({ a: undefined }), { name: 'TypeError', message: /`args.a` is undefined/ })
  await assert.rejects(q({ f: () => 1 }), { name: 'TypeError', message: /`args.f` is a function/ })
  await assert.rejects(q({ n: 2n ** 60n }), { name: 'TypeError', message: /`args.n` is a BigInt beyond 2\^53/ })
  const cyclic = { a: {} }
  cyclic.a.self = cyclic
  await assert.rejects(q(cyclic), { name: 'TypeError', message: /`args.a.self` refers back to itself/ })
  await assert.rejects(q({ list: [1, new Date()] }), { name: 'TypeError', message: /`args.list\[1\]` is a Date/ })
  await assert.rejects(q({ x: NaN }), { name: 'TypeError', message: /`args.x` is NaN/ })
  await assert.rejects(gate.require({ name: 'db.query', user: 'x' }), { name: 'TypeError', message: /unknown action field `user`/ })
  await assert.rejects(gate.require({ name: 'db.query', actor: 'robot:x' }), InvalidActionError)
  await assert.rejects(gate.require(exportAction()), NoApproverError)
  const permit = await q({ small: 2n ** 40n, nested: { a: [null, true, 1.5, 'é'] } })
  assert.deepEqual(permit.args, { small: 2 ** 40, nested: { a: [null, true, 1.5, 'é'] } })
  await permit.complete()
})

test('a JS audit sink gets chained lines, and its failure fails closed', async () => {
  const lines = []
  const gate = new Gate({ policy: policy(), audit: { append: async (l) => { lines.push(...l) } } })
  await (await gate.require({ name: 'db.query', actor: 'agent:bot' })).complete()
  assert.deepEqual(lines.map((l) => JSON.parse(l).event), ['policy.decided', 'action.completed'])
  const file = tmpTrail()
  fs.writeFileSync(file, lines.map((l) => l + '\n').join(''))
  assert.equal(spawnSync(cli(), ['audit', 'verify', file]).status, 0)
  const full = new Gate({ policy: policy(), audit: { append() { throw new Error('ENOSPC: no space left on device') } } })
  await assert.rejects(full.require({ name: 'db.query', actor: 'agent:bot' }), (err) => err instanceof AuditError && /ENOSPC/.test(err.message))
})

test('the audit file written from Node verifies with signoff audit verify', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: policy(), audit: trail, approver: approving() })
  await (await gate.require({ name: 'db.query', actor: 'agent:bot' })).complete()
  await (await gate.require(exportAction())).complete()
  await assert.rejects(gate.require({ name: 'sql.exec', actor: 'agent:bot', args: { sql: 'drop table t' } }))
  await gate.close()
  const out = execFileSync(cli(), ['audit', 'verify', trail], { encoding: 'utf8' })
  // one record per decision (DESIGN §15): 2 + 6 + 1
  assert.match(out, /ok — 9 records/)
  const lines = fs.readFileSync(trail, 'utf8').split('\n').filter(Boolean)
  assert.match(lines[1], /agent:bot/)
  lines[1] = lines[1].replace('agent:bot', 'agent:evil')
  fs.writeFileSync(trail, lines.join('\n') + '\n')
  const bad = spawnSync(cli(), ['audit', 'verify', trail], { encoding: 'utf8' })
  assert.equal(bad.status, 1)
  assert.match(bad.stdout, /seq 2,/)
})

test('the process exits cleanly after close() while a request waits', () => {
  const script = `
    const { Policy, Gate, CancelledError } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const gate = new Gate({ policy: Policy.fromToml(${JSON.stringify(POLICY)}), approver: 'queue' })
    gate.require(${JSON.stringify(exportAction())}).then(
      () => { console.log('permitted?!'); process.exitCode = 3 },
      (err) => { console.log(err instanceof CancelledError ? 'cancelled' : 'other ' + err.code) })
    setTimeout(() => gate.close(), 100)
  `
  const started = Date.now()
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15000 })
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.trim(), 'cancelled')
  assert.ok(Date.now() - started < 10000, 'exited promptly')
})

test('ESM import gives the same classes', async () => {
  const esm = await import('../index.mjs')
  assert.equal(esm.Gate, Gate)
  assert.equal(esm.default.Policy, signoff.Policy)
})

test('the os-buffered fast path decides, waits for approvals, and writes a verifiable trail', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: policy(), audit: trail, durability: 'os-buffered', approver: approving() })
  const permits = await Promise.all(Array.from({ length: 200 }, (_, i) => gate.require({ name: 'db.query', actor: 'agent:bot', args: { i } })))
  await Promise.all(permits.map((p) => p.complete()))
  const approved = await gate.require(exportAction())
  assert.equal(approved.approvedBy.length, 2)
  await approved.complete()
  await assert.rejects(gate.require({ name: 'sql.exec', actor: 'agent:bot', args: { sql: 'drop table t' } }), DeniedError)
  await gate.close()
  const out = execFileSync(cli(), ['audit', 'verify', trail], { encoding: 'utf8' })
  // 200 × (decision, completion) + the approval's 6 + the denial (DESIGN §15)
  assert.match(out, /ok — 407 records/)
})

async function restartFlow(store) {
  const p = policy()
  const actionId = `node-${process.pid}-${Date.now()}`
  const first = new Gate({ policy: p, store, audit: store, approver: 'queue', stream: 'agent' })
  const { pending } = await first.submit({ ...exportAction(), id: actionId })
  assert.ok(pending)
  const reviewer = new Gate({ policy: p, store, audit: store, approver: 'queue', stream: 'server' })
  await reviewer.vote(pending, { voter: 'user:carol@example.com' })
  await reviewer.vote(pending, { voter: 'user:dan@example.com' })
  const again = new Gate({ policy: p, store, audit: store, approver: 'queue', stream: 'agent' })
  const permit = await again.require({ ...exportAction(), id: actionId })
  assert.equal(permit.requestId, pending)
  await permit.complete()
  await assert.rejects(again.require({ ...exportAction(), id: actionId }), { code: 'SIGNOFF_USED' })
  const out = spawnSync(cli(), ['audit', 'verify', store], { encoding: 'utf8' })
  assert.equal(out.status, 0, out.stdout + out.stderr)
}

test('a sqlite store survives a restart', async () => {
  await restartFlow(`sqlite:${tmpTrail().replace(/\.jsonl$/, '.db')}`)
})

test('a postgres store survives a restart', async (t) => {
  const url = process.env.SIGNOFF_TEST_DATABASE_URL
  if (!url) {
    if (process.env.CI === 'true') assert.fail('SIGNOFF_TEST_DATABASE_URL is not set (scripts/test starts a cluster)')
    t.skip('no PostgreSQL: set SIGNOFF_TEST_DATABASE_URL')
    return
  }
  await restartFlow(url)
})
