'use strict'
// Grants and break-glass from Node (DESIGN §13) through gate.vote.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { Policy, Gate, VoteRejectedError } = require('..')
const { tmpTrail } = require('./helpers.js')

const POLICY = `
[policy]
break_glass = { approvers = "oncall" }
[groups]
owners = ["user:carol@example.com", "user:dan@example.com"]
oncall = ["user:olga@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
max_grant = "1h"
[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.push"]
approvers = "owners"
min_approvals = 2
`

const records = (trail, event) =>
  fs.readFileSync(trail, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.event === event)

const quiet = { review() {} }
const exportAction = () => ({ name: 'db.export', actor: 'agent:bot', resource: 'postgres://prod/x', args: { rows: 5 } })

test('a vote with a grant permits the same action without asking', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: Policy.fromToml(POLICY), audit: trail, approver: quiet })
  const { pending } = await gate.submit(exportAction())
  await assert.rejects(gate.vote(pending, { voter: 'user:carol@example.com', grant: '2h' }), (err) => err instanceof VoteRejectedError && err.reason === 'bad_grant')
  assert.throws(() => gate.vote(pending, { voter: 'user:carol@example.com', grant: 30 }), TypeError)
  assert.equal(await gate.vote(pending, { voter: 'user:carol@example.com', grant: '30m' }), 'approved')
  await (await gate.resume(pending)).complete({ ok: true })
  const again = await gate.submit(exportAction())
  assert.equal(again.pending, undefined, 'the grant covered it')
  assert.deepEqual(again.permit.approvedBy, ['user:carol@example.com'])
  await again.permit.complete({ ok: true })
  await gate.close()
  assert.equal(records(trail, 'grant.used').length, 1)
})

test('break-glass needs the group and a reason', async () => {
  const trail = tmpTrail()
  const gate = new Gate({ policy: Policy.fromToml(POLICY), audit: trail, approver: quiet })
  const { pending } = await gate.submit({ name: 'deploy.push', actor: 'agent:ci' })
  await assert.rejects(gate.vote(pending, { voter: 'user:olga@example.com', breakGlass: true }), (err) => err instanceof VoteRejectedError && err.reason === 'break_glass_refused')
  await assert.rejects(gate.vote(pending, { voter: 'user:carol@example.com', breakGlass: true, comment: 'prod down' }), (err) => err.reason === 'break_glass_refused')
  assert.equal(await gate.vote(pending, { voter: 'user:olga@example.com', breakGlass: true, comment: 'INC-42' }), 'approved')
  const permit = await gate.resume(pending)
  assert.deepEqual(permit.approvedBy, ['user:olga@example.com'])
  await permit.complete({ ok: true })
  await gate.close()
  assert.equal(records(trail, 'approval.break_glass').length, 1)
})
