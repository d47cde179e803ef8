'use strict'
// Server-dispatched approvals from Node (DESIGN §10): an agent with
// `approver = "server"` and a SQLite store, a real `signoff serve --config`
// with [slack] pointed at a local fake Slack Web API that records calls, and
// Slack-signed clicks on the server.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { Gate, ApproverError, TimeoutError, SignoffError } = require('..')
const { cli } = require('./helpers.js')

const SECRET = 'slack-signing-secret-for-node-tests'
const POLICY = `
[groups]
owners = ["user:carol@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["fs.read"]

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
reason = "bulk export of production data"

[[rules]]
id = "quick"
effect = "approve"
actions = ["db.quick"]
approvers = "owners"
timeout = "2s"
`

function fakeSlack() {
  const calls = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const method = req.url.split('/').pop()
      let parsed = {}
      try {
        parsed = JSON.parse(body)
      } catch {}
      calls.push({ method, body: parsed })
      const n = calls.filter((c) => c.method === 'chat.postMessage').length
      const answer = method === 'chat.postMessage' ? { ok: true, channel: 'C1', ts: `1.${n}` } : { ok: true }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer))
    })
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, calls, url: `http://127.0.0.1:${server.address().port}` })),
  )
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(what, f, ms = 15000) {
  const start = Date.now()
  for (;;) {
    const v = f()
    if (v) return v
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function world(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-dispatch-'))
  const slack = await fakeSlack()
  const port = await freePort()
  fs.writeFileSync(path.join(dir, 'policy.toml'), POLICY)
  const cfg = path.join(dir, 'gate.toml')
  fs.writeFileSync(
    cfg,
    `listen = "127.0.0.1:${port}"
policy = "policy.toml"
store = "sqlite:${path.join(dir, 'signoff.db')}"
audit = ["jsonl:${path.join(dir, 'audit.jsonl')}"]
approver = "server"
[identity]
actor = "agent:node-bot"
on_behalf_of = "user:alice@example.com"
[dispatch]
max_silence = "5s"
[server]
tokens = []
[slack]
api_base = "${slack.url}"
bot_token_env = "SIGNOFF_TEST_SLACK_TOKEN"
signing_secret_env = "SIGNOFF_TEST_SLACK_SECRET"
default_channel = "#approvals"
lookup_emails = false
[slack.users]
U1 = "user:carol@example.com"
`,
  )
  const server = spawn(cli(), ['serve', '--config', cfg], {
    env: { ...process.env, SIGNOFF_TEST_SLACK_TOKEN: 'xoxb-test', SIGNOFF_TEST_SLACK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise((resolve, reject) => {
    server.stdout.once('data', resolve)
    server.once('exit', (code) => reject(new Error(`signoff serve exited ${code}`)))
  })
  await sleep(1200) // the dispatcher's first heartbeat
  t.after(() => {
    server.kill()
    slack.server.close()
  })
  return { cfg, slack, url: `http://127.0.0.1:${port}` }
}

async function click(url, value) {
  const payload = { type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'signoff_approve', value }] }
  const body = 'payload=' + encodeURIComponent(JSON.stringify(payload))
  const ts = String(Math.floor(Date.now() / 1000))
  const sig = 'v0=' + crypto.createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex')
  const res = await fetch(`${url}/slack/interactivity`, {
    method: 'POST',
    headers: { 'x-slack-request-timestamp': ts, 'x-slack-signature': sig, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  })
  return res.status
}

const posts = (slack) => slack.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.body)
const updates = (slack) => slack.calls.filter((c) => c.method === 'chat.update').map((c) => c.body)
const buttonsOf = (msg) =>
  (msg.blocks || []).flatMap((b) => b.elements || []).filter((e) => e.type === 'button' && String(e.action_id).startsWith('signoff_'))

test('a dispatched request is posted once, approved by a signed click, and its message updated', async (t) => {
  const w = await world(t)
  const gate = Gate.fromConfig(w.cfg)
  const waiting = gate.require({ name: 'db.export', args: { rows: 50000 }, justification: 'monthly churn report' })
  const [post] = await until('the post', () => posts(w.slack).length && posts(w.slack))
  const text = JSON.stringify(post)
  for (const needle of ['db.export', 'agent:node-bot', 'user:alice@example.com', 'monthly churn report', 'bulk export of production data']) {
    assert.ok(text.includes(needle), needle)
  }
  const value = buttonsOf(post).find((b) => b.action_id === 'signoff_approve').value
  assert.equal(await click(w.url, value), 200)
  const permit = await waiting
  assert.deepEqual(permit.approvedBy, ['user:carol@example.com'])
  await permit.complete({ ok: true })
  const last = await until('the resolved message', () => {
    const u = updates(w.slack).at(-1)
    return u && buttonsOf(u).length === 0 && u
  })
  assert.match(JSON.stringify(last).toLowerCase(), /approved/)
  assert.equal(posts(w.slack).length, 1)
  await gate.close()
})

test('a request that expires in the agent shows it expired', async (t) => {
  const w = await world(t)
  const gate = Gate.fromConfig(w.cfg)
  await assert.rejects(gate.require({ name: 'db.quick' }), (e) => e instanceof SignoffError && e.code === 'SIGNOFF_TIMEOUT')
  const last = await until('the expired message', () => {
    const u = updates(w.slack).at(-1)
    return u && /expired/i.test(JSON.stringify(u)) && u
  })
  assert.equal(buttonsOf(last).length, 0)
  // allowed actions take the file's identity and need no dispatcher
  const permit = await gate.require({ name: 'fs.read' })
  await permit.complete()
  await gate.close()
})

test('without a dispatcher the agent fails at once, naming the store', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-nodispatch-'))
  fs.writeFileSync(path.join(dir, 'policy.toml'), POLICY)
  const cfg = path.join(dir, 'gate.toml')
  fs.writeFileSync(
    cfg,
    `policy = "policy.toml"\nstore = "sqlite:${path.join(dir, 'lonely.db')}"\napprover = "server"\n[identity]\nactor = "agent:node-bot"\n`,
  )
  const gate = Gate.fromConfig(cfg)
  const started = Date.now()
  await assert.rejects(
    gate.require({ name: 'db.export' }),
    (e) => e instanceof SignoffError && e.code === 'SIGNOFF_APPROVER' && /lonely\.db/.test(e.message),
  )
  assert.ok(Date.now() - started < 5000)
  await gate.close()
})

test('guard works with the gate default actor, and a gate without one says where to set it', async () => {
  const { Policy } = require('..')
  const policy = Policy.fromToml(POLICY)
  const gate = new Gate({ policy, actor: 'agent:reader' })
  const read = gate.guard('fs.read', async (p) => p)
  assert.equal(await read('/etc/hostname'), '/etc/hostname')
  assert.equal(gate.evaluate({ name: 'fs.read' }).effect, 'allow')
  const bare = new Gate({ policy })
  await assert.rejects(bare.require({ name: 'fs.read' }), /once on the gate/)
  void ApproverError
  void TimeoutError
})
