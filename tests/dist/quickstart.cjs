// examples/node/quickstart.mjs from CommonJS, against the installed package
// (tests/dist/check.sh copies it next to that example), then a timing of
// policy.evaluate on the installed addon.
'use strict'
const path = require('node:path')
const os = require('node:os')
const { Policy, Gate, DeniedError } = require('signoff')

async function main() {
  const root = path.resolve(__dirname, '..', '..')
  const policy = Policy.fromFile(path.join(root, 'examples', 'policies', 'prod-agents.toml'))
  const trail = path.join(os.tmpdir(), `signoff-node-quickstart-cjs-${process.pid}.jsonl`)
  const gate = new Gate({ policy, audit: trail, approver: 'queue' })
  const agent = { actor: 'agent:billing-bot', onBehalfOf: 'user:alice@example.com', env: 'prod' }

  const permit = await gate.require({ name: 'db.query', ...agent, args: { sql: 'select 1' } })
  await permit.complete({ ok: true })
  try {
    await gate.require({ name: 'sql.exec', ...agent, args: { sql: 'DROP TABLE users' } })
    throw new Error('DROP TABLE was not denied')
  } catch (err) {
    if (!(err instanceof DeniedError)) throw err
    console.log(`denied by ${err.rule}: ${err.reason}`)
  }
  const { pending } = await gate.submit({ name: 'db.export', ...agent, resource: 'postgres://prod/customers', args: { rows: 50000 } })
  for (const voter of ['user:carol@example.com', 'user:dan@example.com']) {
    await gate.vote(pending, { voter, verdict: 'approve' })
  }
  const approved = await gate.resume(pending)
  console.log('approved by', approved.approvedBy.join(', '))
  await approved.complete({ ok: true })
  const query = gate.guard('db.query', async (sql) => sql.length, { ...agent })
  console.log('guarded query returned', await query('select count(*) from invoices'))
  await gate.close()
  require('node:fs').rmSync(trail, { force: true })

  // the installed addon's speed: a release build decides in microseconds
  const call = { name: 'db.query', ...agent, args: { sql: 'select 1' } }
  if (policy.evaluate(call).effect !== 'allow') throw new Error('db.query is not allowed')
  const n = 20000
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) policy.evaluate(call)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / n)
  }
  const addon = require.resolve('signoff-linux-x64-gnu')
  const mib = require('node:fs').statSync(addon).size / 1048576
  console.log(`  node: quickstart ran (CJS and ESM); policy.evaluate ${(best / 1000).toFixed(2)} µs a call (best of 5 x ${n}); addon ${mib.toFixed(2)} MiB (${path.relative(process.cwd(), addon)})`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
