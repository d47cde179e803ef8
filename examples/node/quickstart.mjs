// Quickstart: gate an agent's tools with the example policy.
//   node examples/node/quickstart.mjs   (after `npm run build` in bindings/node)
import path from 'node:path'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Policy, Gate, DeniedError } from '../../bindings/node/index.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const policy = Policy.fromFile(path.join(root, 'examples', 'policies', 'prod-agents.toml'))
const trail = path.join(os.tmpdir(), `signoff-node-quickstart-${process.pid}.jsonl`)
const gate = new Gate({ policy, audit: trail, approver: 'queue' })
const agent = { actor: 'agent:billing-bot', onBehalfOf: 'user:alice@example.com', env: 'prod' }

// allowed: run, then report the outcome on the permit
const permit = await gate.require({ name: 'db.query', ...agent, args: { sql: 'select 1' } })
await permit.complete({ ok: true })

// denied by rule `no-drop`
try {
  await gate.require({ name: 'sql.exec', ...agent, args: { sql: 'DROP TABLE users' } })
} catch (err) {
  if (!(err instanceof DeniedError)) throw err
  console.log(`denied by ${err.rule}: ${err.reason}`)
}

// needs two data owners: submit, vote (as the approval server would), resume
const { pending } = await gate.submit({ name: 'db.export', ...agent, resource: 'postgres://prod/customers', args: { rows: 50000 } })
for (const voter of ['user:carol@example.com', 'user:dan@example.com']) {
  await gate.vote(pending, { voter, verdict: 'approve' })
}
const approved = await gate.resume(pending)
console.log('approved by', approved.approvedBy.join(', '))
await approved.complete({ ok: true })

// a guarded tool: every call is required first
const query = gate.guard('db.query', async (sql) => sql.length, { ...agent })
console.log('guarded query returned', await query('select count(*) from invoices'))
await gate.close()
console.log('trail:', trail)
