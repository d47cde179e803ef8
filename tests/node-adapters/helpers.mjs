// Shared by the adapter suites: the policy, gates, trails, and child processes.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { Policy, Gate } from 'signoff'

export const HERE = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.resolve(HERE, '..', '..')
export const POLICY_TEXT = fs.readFileSync(path.join(HERE, 'policy.toml'), 'utf8')
export const policy = () => Policy.fromToml(POLICY_TEXT)

/** Tool name → action name, as every suite maps them. */
export const NAMES = { query: 'db.query', exec: 'sql.exec', exportRows: 'db.export', restart: 'ops.restart' }

export function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-adapters-'))
}

/** A gate writing a JSONL trail in a new folder; `store: true` puts pending requests in SQLite there. */
export function newGate({ store = false, approver = 'queue', dir = tmpDir(), stream } = {}) {
  const trail = path.join(dir, `${stream || 'audit'}.jsonl`)
  const storeUrl = store ? `sqlite:${path.join(dir, 'store.db')}` : undefined
  const gate = new Gate({ policy: policy(), actor: 'agent:adapter-tests', onBehalfOf: 'user:alice@example.com', env: 'test', approver, audit: trail, store: storeUrl, stream })
  return { gate, trail, dir, storeUrl }
}

export function records(trail) {
  return fs.readFileSync(trail, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
}

export function cli() {
  return process.env.SIGNOFF_BIN || path.join(ROOT, 'target', 'debug', 'signoff')
}

/** `signoff audit verify` accepts the trail; returns its records. */
export function verified(trail) {
  const run = spawnSync(cli(), ['audit', 'verify', trail], { encoding: 'utf8' })
  assert.equal(run.status, 0, `signoff audit verify ${trail}: ${run.stdout}${run.stderr}`)
  return records(trail)
}

/** Action ids the trail names, once each. */
export function actionIds(trail) {
  return [...new Set(records(trail).map((r) => r.action_id).filter(Boolean))]
}

/** Waits until the gate has `count` pending requests, and returns them. */
export async function pendingRequests(gate, count = 1, ms = 10000) {
  const until = Date.now() + ms
  for (;;) {
    const pending = await gate.pending()
    if (pending.length >= count) return pending
    if (Date.now() > until) assert.fail(`no pending request after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Approves a request as carol, with edited args if given. */
export function approve(gate, request, args) {
  return gate.vote(request.id, { voter: 'user:carol@example.com', verdict: 'approve', args, argsDigest: args ? request.args_digest : undefined })
}

/** Makes the SQLite store unreadable: every file of it becomes junk. */
export function breakStore(dir) {
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('store.db')) fs.writeFileSync(path.join(dir, name), Buffer.alloc(8192, 7))
  }
}

/** Runs children/<script> in a new Node process (same module resolution as the tests). */
export function child(script, args, env = {}) {
  const out = execFileSync(process.execPath, ['--preserve-symlinks', path.join(HERE, 'children', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60000,
  })
  const last = out.trim().split('\n').at(-1)
  return JSON.parse(last)
}

export const DENIED_DROP = 'signoff: denied (rule no-drop): destructive DDL is never run by agents'
export const DENIED_TIMEOUT = 'signoff: denied (rule restart): no decision before the timeout'
