'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..', '..')

const POLICY = String.raw`
[policy]
name = "node-tests"
default = "deny"

[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.matches("(?i)drop\\s+table")'
reason = "destructive DDL is never run by agents"

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
when = "args.rows > 1000"
approvers = "data-owners"
min_approvals = 2
timeout = "20s"
allow_edit = true
redact = ["args.password"]
reason = "bulk export of production data"

[[rules]]
id = "export-huge"
effect = "deny"
actions = ["db.export"]
when = "args.rows > 1000000"
reason = "too much data"

[[rules]]
id = "small-export"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"

[[rules]]
id = "quick"
effect = "approve"
actions = ["ops.restart"]
approvers = "data-owners"
timeout = "300ms"
`

function tmpTrail() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signoff-node-'))
  return path.join(dir, 'audit.jsonl')
}

function cli() {
  return process.env.SIGNOFF_BIN || path.join(ROOT, 'target', 'debug', 'signoff')
}

function events(trail) {
  return fs
    .readFileSync(trail, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).event)
}

const exportAction = (rows = 50000) => ({
  name: 'db.export',
  actor: 'agent:billing-bot',
  onBehalfOf: 'user:alice@example.com',
  env: 'prod',
  args: { rows, password: 'hunter2' },
})

module.exports = { ROOT, POLICY, tmpTrail, cli, events, exportAction }
