'use strict'
// Policy tests from Node (`policy.test`) and shadow policies (`shadow`), DESIGN §12.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Gate, Policy, PolicyError, DeniedError } = require('..')
const { ROOT } = require('./helpers.js')

const EXAMPLE = path.join(ROOT, 'examples', 'policies', 'prod-agents.toml')
const TESTS = path.join(ROOT, 'examples', 'policies', 'prod-agents.test.toml')
const FIXTURES = path.join(ROOT, 'tests', 'policy-tests')

const LIVE = `
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "small-exports"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"
`
const CANDIDATE = LIVE.replace('args.rows <= 1000', 'args.rows <= 100') + `
[[rules]]
id = "no-big-exports"
effect = "deny"
actions = ["db.export"]
when = "args.rows > 100"
`

test('policy.test runs test files: results, coverage, text', () => {
  const policy = Policy.fromFile(EXAMPLE)
  const report = policy.test(TESTS)
  assert.equal(report.ok, true)
  assert.equal(report.passed, 12)
  assert.deepEqual(report.uncovered, [])
  assert.match(report.text, /12 passed, 0 failed\n$/)
  const failing = policy.test(path.join(FIXTURES, 'failing.test.toml'), [TESTS])
  assert.equal(failing.ok, false)
  assert.deepEqual([failing.passed, failing.failed], [13, 1])
  const bad = failing.results.find((r) => !r.passed)
  assert.deepEqual([bad.expect, bad.effect, bad.line], ['approve', 'allow', 7])
  assert.match(failing.text, /- expected: approve by `prod-export`\n\s+\+ actual: {3}allow by `small-exports`/)
})

test('a malformed test file throws a located PolicyError', () => {
  const policy = Policy.fromFile(EXAMPLE)
  assert.throws(() => policy.test(path.join(FIXTURES, 'duplicate-name.test.toml')), (e) => {
    assert.ok(e instanceof PolicyError)
    assert.match(e.message, /duplicate-name\.test\.toml:7:8: test `x` is defined twice/)
    return true
  })
  assert.throws(() => policy.test(), TypeError)
})

test('a shadow policy is recorded where it differs; the live one decides', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-shadow-'))
  const audit = path.join(dir, 'audit.jsonl')
  const live = Policy.fromToml(LIVE)
  const candidate = Policy.fromToml(CANDIDATE)
  const gate = new Gate({ policy: live, audit, shadow: candidate, actor: 'agent:bot' })
  const rows = [5, 100, 101, 1000, 1001]
  const allowed = []
  for (const n of rows) {
    try {
      const permit = await gate.require({ name: 'db.export', args: { rows: n } })
      allowed.push(n)
      await permit.complete()
    } catch (e) {
      if (!(e instanceof DeniedError)) throw e
    }
  }
  await gate.close()
  assert.deepEqual(allowed, [5, 100, 101, 1000])
  const records = fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  const differs = (n) => {
    const a = { name: 'db.export', actor: 'agent:bot', args: { rows: n } }
    const l = live.evaluate(a)
    const c = candidate.evaluate(a)
    return l.effect !== c.effect || l.rules.join() !== c.rules.join()
  }
  const shadowed = records
    .map((r, i) => [r, records[i + 1]])
    .filter(([r, next]) => r.event === 'policy.decided' && next && next.event === 'policy.shadow')
    .map(([r, next]) => {
      assert.equal(next.action_id, r.action_id)
      assert.equal(next.effect, 'deny')
      assert.equal(next.policy_digest, candidate.digest)
      return r.args.rows
    })
  assert.deepEqual(shadowed, rows.filter(differs))
  assert.deepEqual(shadowed, [101, 1000, 1001])
  assert.throws(() => new Gate({ policy: live, shadow: 'candidate.toml' }), TypeError)
})
