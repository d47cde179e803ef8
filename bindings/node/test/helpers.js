'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..', '..')

const POLICY = fs.readFileSync(path.join(ROOT, 'tests', 'fixtures', 'bindings-gate.toml'), 'utf8')

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
