// Shared by the adapter latency benches (run by hand): loads the frameworks
// installed in tests/node-adapters, builds gates, times agent runs.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const ADAPTERS = path.join(ROOT, 'tests', 'node-adapters')
const resolver = createRequire(path.join(ADAPTERS, 'package.json'))

if (!process.execArgv.includes('--preserve-symlinks') || !fs.existsSync(path.join(ADAPTERS, 'node_modules', 'signoff'))) {
  console.error('run after scripts/test installed tests/node-adapters, as: node --preserve-symlinks benches/node/<bench>.mjs')
  process.exit(2)
}

/**
 * Imports a package as tests/node-adapters sees it (the signoff adapters
 * included). CommonJS builds are what `require` resolves to, so a
 * framework and its adapter share one instance; their exports are merged
 * in from `default`.
 */
export async function load(specifier) {
  const mod = await import(pathToFileURL(resolver.resolve(specifier)).href)
  return mod.default && typeof mod.default === 'object' ? { ...mod.default, ...mod } : mod
}

const { Policy, Gate } = await load('signoff')

const POLICY = `
[policy]
name = "bench"
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["query"]
`

/** A gate with a JSONL trail: `durability` as given (the default is every-record). */
export function gate(durability) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-adapter-bench-'))
  return new Gate({ policy: Policy.fromToml(POLICY), actor: 'agent:bench', audit: path.join(dir, 'audit.jsonl'), durability })
}

/**
 * Times each config in its own steady state: per pass, warm it up, then time
 * `runs` agent runs; the second pass is reported (median and mean µs per
 * run, and what each adds over the first config).
 */
export async function compare(title, configs, { runs = 1000, warmup = 300 } = {}) {
  let samples
  for (let pass = 0; pass < 2; pass++) {
    samples = {}
    let n = 0
    for (const [label, run] of configs) {
      for (let i = 0; i < warmup; i++) await run(n++)
      const out = (samples[label] = [])
      for (let i = 0; i < runs; i++) {
        const start = process.hrtime.bigint()
        await run(n++)
        out.push(Number(process.hrtime.bigint() - start) / 1000)
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  const [baseLabel] = configs[0]
  const base = { median: median(samples[baseLabel]), mean: mean(samples[baseLabel]) }
  console.log(`${title}: ${runs} runs per config after ${warmup} warm-up runs, one allowed tool call per run`)
  console.log(`  ${'config'.padEnd(46)} ${'median'.padStart(8)} ${'mean'.padStart(8)}   added per allowed call (median / mean)`)
  for (const [label] of configs) {
    const m = median(samples[label])
    const a = mean(samples[label])
    const added = label === baseLabel ? '' : `   +${(m - base.median).toFixed(0)} / +${(a - base.mean).toFixed(0)} µs`
    console.log(`  ${label.padEnd(46)} ${m.toFixed(0).padStart(5)} µs ${a.toFixed(0).padStart(5)} µs${added}`)
  }
}
