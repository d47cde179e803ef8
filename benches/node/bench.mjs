// Times, in one run: a bare JS call, policy.evaluate, and `await gate.require`
// (+ complete) on an allow rule with the os-buffered JSONL sink.
//   node benches/node/bench.mjs   (release addon: npm run build:release in bindings/node)
import os from 'node:os'
import path from 'node:path'
import { Policy, Gate } from '../../bindings/node/index.mjs'

const POLICY = `
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
when = 'env == "prod" && args.rows <= 1000'
`
const policy = Policy.fromToml(POLICY)
const action = { name: 'db.query', actor: 'agent:bench', env: 'prod', args: { rows: 10, sql: 'select * from invoices where id = 42' } }
const trail = path.join(os.tmpdir(), `signoff-node-bench-${process.pid}.jsonl`)
const gate = new Gate({ policy, audit: trail, durability: 'os-buffered' })

function time(label, n, fn) {
  fn() // warm
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  const ns = Number(process.hrtime.bigint() - start) / n
  return { label, ns }
}

async function timeAsync(label, n, fn) {
  await fn()
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn()
  return { label, ns: Number(process.hrtime.bigint() - start) / n }
}

let sink = 0
function bare(a) {
  return a.name.length
}
const results = [
  time('bare JS call', 2_000_000, () => { sink += bare(action) }),
  time('policy.evaluate', 200_000, () => { sink += policy.evaluate(action).rules.length }),
  await timeAsync('await gate.require + complete', 20_000, async () => {
    const permit = await gate.require(action)
    await permit.complete()
  }),
  await timeAsync('await gate.require (permit completed later)', 20_000, async () => {
    const permit = await gate.require(action)
    permit.complete()
  }),
]
const base = results[0].ns
for (const r of results) {
  console.log(`${r.label.padEnd(44)} ${(r.ns / 1000).toFixed(3).padStart(9)} µs   (+${((r.ns - base) / 1000).toFixed(3)} µs over the bare call)`)
}
await gate.close()
if (sink === 42) console.log('')
