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

const ROUNDS = 9

function summary(label, samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  return { label, ns: sorted[Math.floor(sorted.length / 2)], min: sorted[0] }
}

function time(label, n, fn) {
  for (let i = 0; i < n / 10; i++) fn() // warm
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    samples.push(Number(process.hrtime.bigint() - start) / n)
  }
  return summary(label, samples)
}

async function timeAsync(label, n, fn) {
  for (let i = 0; i < n / 10; i++) await fn()
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await fn()
    samples.push(Number(process.hrtime.bigint() - start) / n)
  }
  return summary(label, samples)
}

let sink = 0
function bare(a) {
  return a.name.length
}
const results = [
  time('bare JS call', 1_000_000, () => { sink += bare(action) }),
  time('policy.evaluate', 50_000, () => { sink += policy.evaluate(action).rules.length }),
  await timeAsync('await gate.require + complete', 5_000, async () => {
    const permit = await gate.require(action)
    await permit.complete()
  }),
]
const base = results[0].ns
console.log(`median of ${ROUNDS} rounds (min in brackets)`)
for (const r of results) {
  console.log(`${r.label.padEnd(34)} ${(r.ns / 1000).toFixed(3).padStart(8)} µs [${(r.min / 1000).toFixed(3)}]   +${((r.ns - base) / 1000).toFixed(3)} µs over the bare call`)
}
await gate.close()
if (sink === 42) console.log('')
