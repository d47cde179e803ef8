'use strict'
// Writes an audit trail through the Node binding, for tests/verifier:
//   node write_trail.js TARGET ROUNDS STREAM [KEY_FILE]
// TARGET is a JSONL path, sqlite:PATH or postgres://...; one gate (signing
// with KEY_FILE when given) runs ROUNDS rounds of allowed, denied, approved
// (with a rejected self-approval and an edited args vote) and redacted
// actions with awkward numbers and strings, and is closed after each (which
// signs the head). Prints nothing; exits non-zero on any unexpected result.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const { Policy, Gate } = require(path.join(ROOT, 'bindings', 'node'))

const [target, rounds, stream, keyFile] = process.argv.slice(2)
const policy = Policy.fromToml(fs.readFileSync(path.join(ROOT, 'tests', 'fixtures', 'bindings-gate.toml'), 'utf8'))

// numbers and strings whose canonical spelling differs between serializers
const awkward = {
  n: [1e-7, 1e-5, 1e-6, 1e21, 1e16, 1e15, 1.5, 100, 0.1, 5e-324, 2 ** 53, -(2 ** 31), 123456.789, 2.5e-7, -1.25e-300],
  s: 'é\u007f\u0001/\u2028😀"\\\t\n',
  k: { '\uffff': 1, '😀': 2, Z: 3, a: 4, é: 5 },
}

async function round(gate, i) {
  await (await gate.require({ name: 'db.query', actor: 'agent:node', args: { sql: 'select 1', round: i, ...awkward } })).complete()
  await assert.rejects(gate.require({ name: 'sql.exec', actor: 'agent:node', args: { sql: 'DROP TABLE users' } }), { code: 'SIGNOFF_DENIED' })
  const exportAction = {
    name: 'db.export',
    actor: 'agent:billing-bot',
    onBehalfOf: 'user:alice@example.com',
    env: 'prod',
    args: { rows: 50000 + i, password: 'hunter2', api_token: 't0k' },
  }
  const submitted = await gate.submit(exportAction)
  assert.ok(submitted.pending, 'the export waits for approval')
  await assert.rejects(gate.vote(submitted.pending, { voter: 'user:alice@example.com' }), { code: 'SIGNOFF_VOTE_REJECTED' })
  await gate.vote(submitted.pending, { voter: 'user:carol@example.com', comment: 'fewer rows', args: { rows: 40000, password: 'hunter2' } })
  await gate.vote(submitted.pending, { voter: 'user:dan@example.com' })
  const permit = await gate.resume(submitted.pending)
  await permit.complete()
  await gate.close()
}

;(async () => {
  const options = { policy, audit: target, approver: 'queue', stream }
  if (keyFile) options.checkpointKeyFile = keyFile
  const gate = new Gate(options)
  for (let i = 0; i < Number(rounds); i++) await round(gate, i)
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
