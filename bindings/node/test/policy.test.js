'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Policy, PolicyError, SignoffError } = require('..')
const { ROOT, POLICY } = require('./helpers.js')

const CASES = path.join(ROOT, 'tests', 'cases')
const FIELDS = { on_behalf_of: 'onBehalfOf' }

test('the shared case table gives the Rust engine\'s decisions', () => {
  const lines = fs.readFileSync(path.join(CASES, 'cases.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
  assert.ok(lines.length >= 60)
  const policies = new Map()
  for (const line of lines) {
    const c = JSON.parse(line)
    if (!policies.has(c.policy)) policies.set(c.policy, Policy.fromFile(path.join(CASES, 'policies', c.policy)))
    const action = {}
    for (const [k, v] of Object.entries(c.action)) action[FIELDS[k] || k] = v
    const d = policies.get(c.policy).evaluate(action, { now: c.now || '2026-01-01T12:00:00Z' })
    assert.deepEqual([d.effect, d.rules], [c.effect, c.rules], c.id)
  }
})

test('evaluate and explain carry reason, approval, digest and trace', () => {
  const policy = Policy.fromToml(POLICY)
  const d = policy.evaluate({ name: 'db.export', actor: 'agent:bot', args: { rows: 5000 } })
  assert.equal(d.effect, 'approve')
  assert.deepEqual(d.rules, ['export'])
  assert.equal(d.approval.requirements[0].min, 2)
  assert.equal(d.approval.allowEdit, true)
  assert.equal(d.policyDigest, policy.digest)
  const e = policy.explain({ name: 'db.export', actor: 'agent:bot', args: { rows: 5000 } })
  assert.deepEqual(e.trace.map((t) => t.rule), policy.rules)
})

test('a malformed policy throws PolicyError with its location', () => {
  const err = assert.throws(() => Policy.fromFile(path.join(ROOT, 'tests', 'malformed', 'cel_syntax.toml')), PolicyError)
  let caught
  try {
    Policy.fromFile(path.join(ROOT, 'tests', 'malformed', 'cel_syntax.toml'))
  } catch (e) {
    caught = e
  }
  assert.ok(caught instanceof SignoffError)
  assert.equal(caught.code, 'SIGNOFF_POLICY')
  assert.equal(caught.rule, 'big-export')
  assert.equal(caught.issues[0].line, 12)
  assert.match(caught.message, /cel_syntax\.toml:12:8/)
  assert.throws(() => Policy.fromToml("[policy]\nnme = 'x'"), /unknown field/)
  void err
})
