'use strict'
// Checkpoint keys from Node: a key file or variable signs the trail, and
// `signoff audit verify --pubkey` accepts it and detects a cut or an edit at
// its newest records.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Policy, Gate, AuditError, SignoffError } = require('..')
const { POLICY, tmpTrail, cli, events } = require('./helpers.js')

const policy = () => Policy.fromToml(POLICY)

function keygen(dir) {
  const key = path.join(dir, 'checkpoint.key')
  const made = spawnSync(cli(), ['audit', 'keygen', '--out', key], { encoding: 'utf8' })
  assert.equal(made.status, 0, made.stderr)
  return { key, pub: `${key}.pub` }
}

const verify = (trail, pub) =>
  spawnSync(cli(), ['audit', 'verify', trail, ...(pub ? ['--pubkey', pub] : [])], { encoding: 'utf8' })

async function write(gate, n) {
  for (let i = 0; i < n; i++) await (await gate.require({ name: 'db.query', actor: 'agent:bot' })).complete()
  await gate.close()
}

test('a checkpoint key file signs the trail and a cut or edit at its end is detected', async () => {
  const trail = tmpTrail()
  const { key, pub } = keygen(path.dirname(trail))
  await write(new Gate({ policy: policy(), audit: trail, checkpointKeyFile: key }), 3)
  assert.equal(events(trail).at(-1), 'audit.checkpoint', 'close signs the head')
  const ok = verify(trail, pub)
  assert.equal(ok.status, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /1 signature\(s\) verified/)
  assert.doesNotMatch(ok.stdout, /warning/)

  const lines = fs.readFileSync(trail, 'utf8').split('\n').filter(Boolean)
  // the newest records cut, the checkpoint with them: only the key can tell
  const cut = path.join(path.dirname(trail), 'cut.jsonl')
  fs.writeFileSync(cut, lines.slice(0, -2).join('\n') + '\n')
  assert.equal(verify(cut).status, 0)
  const bad = verify(cut, pub)
  assert.equal(bad.status, 1, bad.stdout)
  assert.match(bad.stdout, /no checkpoint signed by the given public key/)

  // the newest record edited
  const edited = path.join(path.dirname(trail), 'edited.jsonl')
  const seq = JSON.parse(lines.at(-2)).seq
  fs.writeFileSync(edited, [...lines.slice(0, -2), lines.at(-2).replace('agent:bot', 'agent:evil'), lines.at(-1)].join('\n') + '\n')
  const tampered = verify(edited, pub)
  assert.equal(tampered.status, 1)
  assert.match(tampered.stdout, new RegExp(`seq ${seq},`))
})

test('a checkpoint key from an environment variable signs the trail', async () => {
  const trail = tmpTrail()
  const { key, pub } = keygen(path.dirname(trail))
  process.env.SIGNOFF_TEST_CHECKPOINT_KEY = fs.readFileSync(key, 'utf8')
  try {
    await write(new Gate({ policy: policy(), audit: trail, checkpointKeyEnv: 'SIGNOFF_TEST_CHECKPOINT_KEY' }), 2)
  } finally {
    delete process.env.SIGNOFF_TEST_CHECKPOINT_KEY
  }
  const ok = verify(trail, pub)
  assert.equal(ok.status, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /1 signature\(s\) verified/)
})

test('a trail written without a key fails verify with a key, and verify without one says what it cannot see', async () => {
  const trail = tmpTrail()
  const { pub } = keygen(path.dirname(trail))
  await write(new Gate({ policy: policy(), audit: trail }), 1)
  const bad = verify(trail, pub)
  assert.equal(bad.status, 1)
  assert.match(bad.stdout, /no checkpoint signed by the given public key/)
  const bare = verify(trail)
  assert.equal(bare.status, 0)
  assert.match(bare.stdout, /deleting the newest records .* is undetectable/)
})

test('a missing checkpoint key fails the gate instead of running unsigned', () => {
  const trail = tmpTrail()
  const missing = path.join(path.dirname(trail), 'nope.key')
  assert.throws(
    () => new Gate({ policy: policy(), audit: trail, checkpointKeyFile: missing }),
    (err) => err instanceof AuditError && err.code === 'SIGNOFF_AUDIT' && err.message.includes('nope.key'),
  )
  delete process.env.SIGNOFF_TEST_UNSET_KEY
  assert.throws(
    () => new Gate({ policy: policy(), audit: trail, checkpointKeyEnv: 'SIGNOFF_TEST_UNSET_KEY' }),
    (err) => err instanceof AuditError && /`SIGNOFF_TEST_UNSET_KEY` is not set/.test(err.message),
  )
  assert.throws(
    () => new Gate({ policy: policy(), audit: trail, checkpointKeyFile: missing, checkpointKeyEnv: 'K' }),
    (err) => err instanceof SignoffError && /not both/.test(err.message),
  )
  assert.throws(
    () => new Gate({ policy: policy(), checkpointKeyEnv: 'K' }),
    (err) => err instanceof SignoffError && /needs an audit trail/.test(err.message),
  )
  assert.throws(() => new Gate({ policy: policy(), audit: trail, checkpointKeyFile: 42 }), TypeError)
  assert.equal(fs.existsSync(trail), false, 'nothing was opened')
})
