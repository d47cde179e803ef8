// The contract all three adapters share (DESIGN.md §11), seen through their public entries.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import { z } from 'zod'
import * as ai7 from 'ai'
import { gateTools } from 'signoff/ai'
import { newGate, NAMES, records, pendingRequests, approve, tmpDir, HERE, DENIED_DROP } from './helpers.mjs'

const require = createRequire(import.meta.url)
const SUBPATHS = { ai: 'ai', 'openai-agents': '@openai/agents', langchain: 'langchain' }
const EXPORTS = { ai: ['gateTools', 'toolApproval'], 'openai-agents': ['gateTool', 'signoffGuardrail', 'resolveApprovals'], langchain: ['signoffMiddleware'] }

test('every subpath loads from CommonJS and ESM, with the same functions', async () => {
  for (const [subpath, names] of Object.entries(EXPORTS)) {
    const cjs = require(`signoff/${subpath}`)
    const esm = await import(`signoff/${subpath}`)
    for (const name of names) {
      assert.equal(typeof cjs[name], 'function', `require('signoff/${subpath}').${name}`)
      assert.equal(typeof esm[name], 'function', `import { ${name} } from 'signoff/${subpath}'`)
    }
  }
})

test('importing an adapter without its framework throws an error naming the package to install', () => {
  const dir = tmpDir()
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(fs.realpathSync(path.join(HERE, 'node_modules', 'signoff')), path.join(dir, 'node_modules', 'signoff'))
  for (const [subpath, pkg] of Object.entries(SUBPATHS)) {
    const report = `.then(() => console.log('loaded'), (e) => console.log(JSON.stringify({ code: e.code, pkg: e.package, message: e.message })))`
    for (const [kind, script] of [
      ['cjs', `Promise.resolve().then(() => require('signoff/${subpath}'))${report}`],
      ['esm', `import('signoff/${subpath}')${report}`],
    ]) {
      const run = spawnSync(process.execPath, ['--preserve-symlinks', '-e', script], { cwd: dir, encoding: 'utf8' })
      assert.equal(run.status, 0, run.stderr)
      const out = JSON.parse(run.stdout.trim())
      assert.deepEqual(out, {
        code: 'SIGNOFF_MISSING_FRAMEWORK',
        pkg,
        message: `\`signoff/${subpath}\` needs the \`${pkg}\` package, which is not installed: run \`npm install ${pkg}\``,
      }, `${kind} signoff/${subpath}`)
    }
  }
})

const exec = (gated, input, toolCallId = 'call_1') => gated.exec.execute(input, { toolCallId, messages: [], abortSignal: undefined })
const execTool = () => ({ exec: ai7.tool({ inputSchema: z.object({ sql: z.string() }), execute: async ({ sql }) => `ran ${sql}` }) })

test('action names: a mapping wins, else prefix + tool name; action ids are <framework>:[<session>:]<call id>', async () => {
  const { gate, trail } = newGate()
  await exec(gateTools(execTool(), gate, { names: { exec: 'sql.exec' } }), { sql: 'select 1' }, 'call_a')
  await exec(gateTools(execTool(), gate, { prefix: 'sql.' }), { sql: 'select 2' }, 'call_b')
  await exec(gateTools(execTool(), gate, { names: (tool) => (tool === 'exec' ? 'sql.exec' : null), session: (info) => `s-${info.toolCallId}` }), { sql: 'select 3' }, 'call_c')
  assert.equal(await exec(gateTools(execTool(), gate, { prefix: 'db.' }), { sql: 'select 4' }, 'call_d'), 'signoff: denied (default): no rule matched; the policy default is deny')
  await gate.close()
  const decided = records(trail).filter((r) => r.event === 'policy.decided').map((r) => [r.action_id, r.action, r.effect])
  assert.deepEqual(decided, [
    ['ai:call_a', 'sql.exec', 'allow'],
    ['ai:call_b', 'sql.exec', 'allow'],
    ['ai:s-call_c:call_c', 'sql.exec', 'allow'],
    ['ai:call_d', 'db.exec', 'deny'],
  ])
})

test('fail closed: a throwing option function, input that is not JSON, and a host abort all deny without running the tool', async () => {
  const { gate } = newGate()
  const ran = []
  const tools = { exec: ai7.tool({ inputSchema: z.any(), execute: async (input) => { ran.push(input); return 'ran' } }) }
  const throwing = gateTools(tools, gate, { names: () => { throw new Error('mapping table unavailable') } })
  assert.equal(await exec(throwing, { sql: 'select 1' }), 'signoff: denied (error): mapping table unavailable')
  const plain = gateTools(tools, gate, { names: NAMES })
  assert.equal(await exec(plain, { when: new Date(0) }), 'signoff: denied (error): `args.when` is a Date, which is not plain JSON (use objects, arrays, strings, numbers, booleans or null)')
  assert.equal(await exec(plain, 'select 1'), 'signoff: denied (error): the input of tool `exec` is not a JSON object, so signoff cannot check it')
  const badContext = gateTools(tools, gate, { names: NAMES, context: () => { throw new Error('no tenant') } })
  assert.equal(await exec(badContext, { sql: 'select 1' }), 'signoff: denied (error): no tenant')
  const slow = gateTools({ exportRows: tools.exec }, gate, { names: NAMES })
  const controller = new AbortController()
  const waiting = slow.exportRows.execute({ table: 'users', rows: 5000 }, { toolCallId: 'call_x', messages: [], abortSignal: controller.signal })
  await pendingRequests(gate)
  controller.abort()
  assert.equal(await waiting, 'signoff: denied (cancelled): the host aborted the call')
  assert.deepEqual(ran, [])
  assert.equal(await exec(plain, { sql: 'DROP TABLE users' }), DENIED_DROP)
  await gate.close() // the aborted call's request is still pending in signoff (see README)
})

test('an approval that lands after the adapter gave up is recorded as not run', async () => {
  const { gate, trail } = newGate()
  const ran = []
  const tools = { exportRows: ai7.tool({ inputSchema: z.any(), execute: async (input) => { ran.push(input); return 'ran' } }) }
  const gated = gateTools(tools, gate, { names: NAMES, timeoutMs: 100 })
  const denied = gated.exportRows.execute({ table: 'users', rows: 5000 }, { toolCallId: 'call_late', messages: [] })
  const [request] = await pendingRequests(gate)
  assert.equal(await denied, 'signoff: denied (timeout): no decision within 100 ms')
  await approve(gate, request)
  await new Promise((resolve) => setTimeout(resolve, 200))
  await gate.close()
  const completed = records(trail).filter((r) => r.event === 'action.completed')
  assert.equal(completed.length, 1)
  assert.equal(completed[0].outcome, 'failure')
  assert.match(completed[0].error, /^not run: it arrived after the adapter gave up waiting/)
  assert.deepEqual(ran, [])
})

test('the adapters are in the package: exports for CommonJS, ESM and types, frameworks only as optional peers', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(HERE, '..', '..', 'bindings', 'node', 'package.json'), 'utf8'))
  for (const subpath of Object.keys(SUBPATHS)) {
    const entry = pkg.exports[`./${subpath}`]
    assert.deepEqual(Object.keys(entry), ['types', 'import', 'require'])
    for (const file of Object.values(entry)) assert.ok(fs.existsSync(path.join(HERE, '..', '..', 'bindings', 'node', file)), file)
  }
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies')
  for (const peer of Object.values(SUBPATHS)) {
    assert.ok(pkg.peerDependencies[peer], peer)
    assert.equal(pkg.peerDependenciesMeta[peer].optional, true)
    assert.equal((pkg.devDependencies || {})[peer], undefined)
  }
})
