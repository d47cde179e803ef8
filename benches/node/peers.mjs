// Side-by-side bench: signoff against the npm packages a user would pick
// instead, in one process. One 10-rule policy written in each engine's own
// language (action names, plus the condition `env == "prod" && args.rows <=
// 1000` where the engine has conditions). Before anything is timed, every
// engine is asked an allowed and a denied question and must answer both
// right. Each call then runs in 7 rounds, the engines alternating inside every
// round (the order rotates); the table gives the median per call with the min
// and max round and the ratio to signoff. A bench, run by hand: not a test.
//
// Run against what users install: the packed package, whose `prepack` builds
// the release addon (a few minutes clean on 2 cores). From the repository root:
//   (cd bindings/node && npm install --no-audit --no-fund && npm pack --pack-destination ../../benches/node)
//   cd benches/node && npm install --no-audit --no-fund
//   npm install --no-save --no-audit --no-fund ./signoff-0.1.0.tgz   # after the plain install, which prunes it
//   node peers.mjs
// The bench loads `signoff` from benches/node/node_modules, never the addon in
// bindings/node (`npm run build` there is the debug build the tests use, and
// any engineer's rebuild replaces it); it warns when the addon looks like a
// debug build.
//
// Options: --rounds N (default 7), --round-ms MS (one engine's round, default
// 250), --only evaluate,trail,durable, --concurrency N (default 64).
//
// The peers, pinned in package.json:
// - casbin: `enforceSync` with `eval()` of a per-rule condition, and the same
//   rules by name only (no eval). No audit trail.
// - @cedar-policy/cedar-wasm (nodejs build): `statefulIsAuthorized` on a
//   policy set preparsed once (`preparsePolicySet`). No audit trail.
// Neither has an audit trail or a durable mode, so `require`+`complete` and
// the durable rows are signoff alone.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const bindingDir = path.join(here, 'node_modules', 'signoff')
if (!fs.existsSync(path.join(bindingDir, 'package.json'))) {
  console.error('signoff is not installed in benches/node: see the instructions at the top of peers.mjs')
  process.exit(1)
}
const { Policy, Gate } = await import('signoff')

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '250' },
    only: { type: 'string', default: 'evaluate,trail,durable' },
    concurrency: { type: 'string', default: '64' },
  },
})
const ROUNDS = Number(opts.rounds)
const ROUND_MS = Number(opts['round-ms'])
const ONLY = new Set(opts.only.split(','))
const CONCURRENCY = Number(opts.concurrency)

const ACTOR = 'agent:bench'
const ENV = 'prod'
const ALLOWED_ARGS = { rows: 10, sql: 'select * from invoices where id = 42' }
const OVER_LIMIT_ARGS = { rows: 5000, sql: 'select * from invoices' }

// The 10 rules, in order. The last one, the one every timed call hits,
// carries the condition; first-match engines scan all ten.
const RULES = [
  ['fs-read', 'allow', 'fs.read'],
  ['http-get', 'allow', 'http.get'],
  ['email-draft', 'allow', 'email.draft'],
  ['no-drop', 'deny', 'sql.drop'],
  ['no-delete', 'deny', 'fs.delete'],
  ['no-shell', 'deny', 'shell.exec'],
  ['no-payments', 'deny', 'payments.send'],
  ['no-iam', 'deny', 'iam.grant'],
  ['kv-read', 'allow', 'kv.get'],
  ['reads', 'allow', 'db.query'], // when env == "prod" && args.rows <= 1000
]
const CONDITION_RULE = 'reads'

function signoffToml() {
  const out = ['[policy]\nname = "bench"\ndefault = "deny"\n']
  for (const [id, effect, action] of RULES) {
    out.push(`[[rules]]\nid = "${id}"\neffect = "${effect}"\nactions = ["${action}"]\n`)
    if (id === CONDITION_RULE) out.push(`when = 'env == "prod" && args.rows <= 1000'\n`)
  }
  return out.join('\n')
}

const CASBIN_MODEL_EVAL = `
[request_definition]
r = sub, act, env, rows

[policy_definition]
p = act, cond, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act && eval(p.cond)
`
const CASBIN_MODEL_NAMES = `
[request_definition]
r = sub, act

[policy_definition]
p = act, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act
`

function casbinPolicy(withConditions) {
  return RULES.map(([id, effect, action]) => {
    if (!withConditions) return `p, ${action}, ${effect}`
    const cond = id === CONDITION_RULE ? "r.env == 'prod' && r.rows <= 1000" : 'true'
    return `p, ${action}, ${cond}, ${effect}`
  }).join('\n')
}

function cedarPolicies() {
  return RULES.map(([id, effect, action]) => {
    let text = `@id("${id}")\n${effect === 'allow' ? 'permit' : 'forbid'}(principal, action == Action::"${action}", resource)`
    if (id === CONDITION_RULE) text += ' when { context.env == "prod" && context.args.rows <= 1000 }'
    return text + ';'
  }).join('\n')
}

function expect(engine, kase, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.error(`${engine}: ${kase}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}: not timing an engine that does not decide`)
    process.exit(1)
  }
}

async function expectDenied(engine, kase, promise, rule) {
  try {
    await promise
  } catch (e) {
    if (e.code !== 'SIGNOFF_DENIED') throw e
    if (rule !== undefined) expect(engine, `${kase} rule`, e.rule, rule)
    return
  }
  console.error(`${engine}: ${kase}: was not denied`)
  process.exit(1)
}

function version(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

// ── engines: { name, note?, check(), batch(n) } where batch runs n calls ──

const action = (name, args = ALLOWED_ARGS) => ({ name, actor: ACTOR, env: ENV, args })

function evaluateEngines() {
  const engines = []
  const missing = []
  const policy = Policy.fromToml(signoffToml())
  if (policy.rules.length !== 10) throw new Error('the signoff policy should have 10 rules')
  engines.push({
    name: 'signoff Policy.evaluate',
    check() {
      expect('signoff', 'allowed', policy.evaluate(action('db.query')).effect, 'allow')
      expect('signoff', 'rule', policy.evaluate(action('db.query')).rules, ['reads'])
      expect('signoff', 'rows over the limit', policy.evaluate(action('db.query', OVER_LIMIT_ARGS)).effect, 'deny')
      expect('signoff', 'sql.drop', policy.evaluate(action('sql.drop')).effect, 'deny')
    },
    batch(n) {
      let allowed = 0
      // a fresh action object per call, as each tool call brings its own
      for (let i = 0; i < n; i++) if (policy.evaluate({ name: 'db.query', actor: ACTOR, env: ENV, args: ALLOWED_ARGS }).effect === 'allow') allowed++
      return allowed
    },
  })

  let casbin
  try {
    casbin = require('casbin')
  } catch (e) {
    missing.push(`casbin: ${e.message}`)
  }
  if (casbin) {
    const withEval = { enforcer: null }
    const namesOnly = { enforcer: null }
    engines.push({
      name: 'casbin enforceSync (eval condition)',
      async setup() {
        withEval.enforcer = await casbin.newEnforcer(casbin.newModelFromString(CASBIN_MODEL_EVAL), new casbin.StringAdapter(casbinPolicy(true)))
      },
      check() {
        const e = withEval.enforcer
        expect('casbin', 'allowed', e.enforceSync(ACTOR, 'db.query', ENV, 10), true)
        expect('casbin', 'rows over the limit', e.enforceSync(ACTOR, 'db.query', ENV, 5000), false)
        expect('casbin', 'sql.drop', e.enforceSync(ACTOR, 'sql.drop', ENV, 10), false)
      },
      batch(n) {
        const e = withEval.enforcer
        let allowed = 0
        for (let i = 0; i < n; i++) if (e.enforceSync(ACTOR, 'db.query', ENV, ALLOWED_ARGS.rows)) allowed++
        return allowed
      },
    })
    engines.push({
      name: 'casbin enforceSync (names only)',
      note: 'no condition: rows limit not expressed',
      async setup() {
        namesOnly.enforcer = await casbin.newEnforcer(casbin.newModelFromString(CASBIN_MODEL_NAMES), new casbin.StringAdapter(casbinPolicy(false)))
      },
      check() {
        const e = namesOnly.enforcer
        expect('casbin names', 'allowed', e.enforceSync(ACTOR, 'db.query'), true)
        expect('casbin names', 'sql.drop', e.enforceSync(ACTOR, 'sql.drop'), false)
        expect('casbin names', 'unknown action', e.enforceSync(ACTOR, 'x.unknown'), false)
      },
      batch(n) {
        const e = namesOnly.enforcer
        let allowed = 0
        for (let i = 0; i < n; i++) if (e.enforceSync(ACTOR, 'db.query')) allowed++
        return allowed
      },
    })
  }

  let cedar
  try {
    cedar = require('@cedar-policy/cedar-wasm/nodejs')
  } catch (e) {
    missing.push(`@cedar-policy/cedar-wasm: ${e.message}`)
  }
  if (cedar) {
    const parsed = cedar.preparsePolicySet('bench', { staticPolicies: cedarPolicies() })
    if (parsed.type !== 'success') throw new Error(`cedar: ${JSON.stringify(parsed.errors)}`)
    const ask = (name, args) => {
      const answer = cedar.statefulIsAuthorized({
        principal: { type: 'Agent', id: 'bench' },
        action: { type: 'Action', id: name },
        resource: { type: 'Tool', id: 'db' },
        context: { env: ENV, args },
        preparsedPolicySetId: 'bench',
        entities: [],
      })
      if (answer.type !== 'success') throw new Error(`cedar: ${JSON.stringify(answer.errors)}`)
      return answer.response.decision
    }
    engines.push({
      name: 'cedar-wasm statefulIsAuthorized',
      note: 'policy set preparsed once',
      check() {
        expect('cedar-wasm', 'allowed', ask('db.query', ALLOWED_ARGS), 'allow')
        expect('cedar-wasm', 'rows over the limit', ask('db.query', OVER_LIMIT_ARGS), 'deny')
        expect('cedar-wasm', 'sql.drop', ask('sql.drop', ALLOWED_ARGS), 'deny')
      },
      batch(n) {
        let allowed = 0
        for (let i = 0; i < n; i++) if (ask('db.query', ALLOWED_ARGS) === 'allow') allowed++
        return allowed
      },
    })
  }
  return { engines, missing }
}

function lines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length
  } catch {
    return 0
  }
}

function requireCompleteEngine(label, gate, trail, { concurrency = 1 } = {}) {
  const one = async () => {
    const permit = await gate.require({ name: 'db.query', actor: ACTOR, env: ENV, args: ALLOWED_ARGS })
    await permit.complete()
  }
  return {
    name: label,
    async check() {
      await one()
      await expectDenied('signoff', 'sql.drop', gate.require(action('sql.drop')), 'no-drop')
      await expectDenied('signoff', 'rows over the limit', gate.require(action('db.query', OVER_LIMIT_ARGS)))
      await new Promise((r) => setTimeout(r, 50)) // records are written within 10 ms
      if (lines(trail) === 0) {
        console.error(`signoff: the trail ${trail} is empty`)
        process.exit(1)
      }
    },
    async batch(n) {
      if (concurrency === 1) {
        for (let i = 0; i < n; i++) await one()
        return
      }
      const per = Math.max(1, Math.floor(n / concurrency))
      await Promise.all(Array.from({ length: concurrency }, async () => {
        for (let i = 0; i < per; i++) await one()
      }))
    },
    perBatch: (n) => (concurrency === 1 ? n : Math.max(1, Math.floor(n / concurrency)) * concurrency),
  }
}

// ── timing ──

async function calibrate(engine, ms, unit) {
  let n = unit
  for (;;) {
    const start = performance.now()
    await engine.batch(n)
    const took = performance.now() - start
    if (took >= ms / 5 || n >= 50_000_000) return Math.max(unit, Math.floor((n * ms) / Math.max(took, 1e-6) / unit) * unit)
    n *= took < ms / 50 ? 4 : 2
  }
}

async function runRounds(engines, unit = 1) {
  const counts = new Map()
  for (const e of engines) counts.set(e, await calibrate(e, ROUND_MS, unit))
  const samples = new Map(engines.map((e) => [e, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...engines.slice(r % engines.length), ...engines.slice(0, r % engines.length)]
    for (const e of order) {
      const n = counts.get(e)
      const calls = e.perBatch ? e.perBatch(n) : n
      const start = process.hrtime.bigint()
      await e.batch(n)
      samples.get(e).push(Number(process.hrtime.bigint() - start) / 1e9 / calls)
    }
  }
  return samples
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmtTime = (s) => (s < 1e-3 ? `${(s * 1e6).toFixed(2)} µs` : `${(s * 1e3).toFixed(2)} ms`)
const fmtRate = (s) => `${Math.round(1 / s).toLocaleString('en-US')}/s`

function report(title, engines, samples, { rate = false, note } = {}) {
  const fmt = rate ? fmtRate : fmtTime
  const base = median(samples.get(engines[0]))
  console.log(`\n## ${title}`)
  if (note) console.log(note)
  console.log(`${'engine'.padEnd(50)} ${'median'.padStart(12)} ${'min'.padStart(12)} ${'max'.padStart(12)}  vs signoff`)
  for (const e of engines) {
    const s = samples.get(e)
    const m = median(s)
    const [lo, hi] = rate ? [Math.max(...s), Math.min(...s)] : [Math.min(...s), Math.max(...s)]
    const ratio = m / base
    const rel = e === engines[0] ? '1.00' : ratio >= 1 ? `signoff ${ratio.toFixed(2)}x faster` : `signoff ${(1 / ratio).toFixed(2)}x slower`
    console.log(`${e.name.padEnd(50)} ${fmt(m).padStart(12)} ${fmt(lo).padStart(12)} ${fmt(hi).padStart(12)}  ${rel}`)
    if (e.note) console.log(`    (${e.note})`)
  }
  const peers = engines.slice(1)
  if (peers.length) {
    const fastest = peers.reduce((a, b) => (median(samples.get(a)) <= median(samples.get(b)) ? a : b))
    console.log(`signoff vs the fastest peer (${fastest.name}): ${(median(samples.get(fastest)) / base).toFixed(2)}x`)
  }
  const s = samples.get(engines[0])
  console.log(`signoff steadiness: slowest round / fastest round = ${(Math.max(...s) / Math.min(...s)).toFixed(2)}`)
}

// ── main ──

const addon = fs.readdirSync(bindingDir).filter((f) => f.endsWith('.node'))
const addonSize = addon.reduce((sum, f) => sum + fs.statSync(path.join(bindingDir, f)).size, 0)
console.log(`node ${process.version}; signoff addon ${addon.join(', ')} (${(addonSize / 2 ** 20).toFixed(1)} MiB)`)
if (addonSize > 60 * 2 ** 20) console.log('warning: the addon looks like a debug build; install the packed package (see the top of peers.mjs)')
for (const name of ['signoff', 'casbin', '@cedar-policy/cedar-wasm']) console.log(`  ${name} ${version(name) ?? 'not installed (npm install in benches/node)'}`)
console.log(`${ROUNDS} rounds, engines alternating; each engine's round about ${ROUND_MS} ms`)

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-peers-'))
const gates = []
try {
  if (ONLY.has('evaluate')) {
    const { engines, missing } = evaluateEngines()
    for (const e of engines) if (e.setup) await e.setup()
    for (const e of engines) await e.check()
    const bare = { name: 'bare', batch(n) { let x = 0; for (let i = 0; i < n; i++) x += ({ name: 'db.query', args: ALLOWED_ARGS }).name.length; return x } }
    const b = median((await runRounds([bare])).get(bare))
    report('evaluate: one decision, no trail', engines, await runRounds(engines), { note: `(a bare loop step building the action costs ${(b * 1e6).toFixed(3)} µs; included in every row)` })
    for (const m of missing) console.log(`not measured: ${m}`)
  }
  if (ONLY.has('trail')) {
    const trail = path.join(folder, 'signoff-os-buffered.jsonl')
    const gate = new Gate({ policy: Policy.fromToml(signoffToml()), audit: trail, durability: 'os-buffered' })
    gates.push(gate)
    const engines = [requireCompleteEngine('signoff await require+complete (os-buffered)', gate, trail)]
    for (const e of engines) await e.check()
    report('await require + complete, os-buffered JSONL trail', engines, await runRounds(engines))
    console.log('not measured: casbin, cedar-wasm: no audit trail (decision only)')
  }
  if (ONLY.has('durable')) {
    const engines = []
    for (const concurrency of [1, CONCURRENCY]) {
      const trail = path.join(folder, `signoff-durable-${concurrency}.jsonl`)
      const gate = new Gate({ policy: Policy.fromToml(signoffToml()), audit: trail })
      gates.push(gate)
      engines.push(requireCompleteEngine(`signoff durable group, ${concurrency} promise(s)`, gate, trail, { concurrency }))
    }
    for (const e of engines) await e.check()
    const one = await runRounds([engines[0]])
    const many = await runRounds([engines[1]], CONCURRENCY)
    report('durable default (group commit), 1 caller, decisions/s', [engines[0]], one, { rate: true })
    report(`durable default (group commit), ${CONCURRENCY} concurrent promises, decisions/s`, [engines[1]], many, { rate: true })
    console.log('not measured: casbin, cedar-wasm: no durable audit')
  }
} finally {
  for (const g of gates) await g.close()
  fs.rmSync(folder, { recursive: true, force: true })
}
