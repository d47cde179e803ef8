// The real Claude Code CLI, offline against a local fake of the Messages
// API, with `signoff hook claude-code` registered by `signoff install
// claude-code`: an allowed Bash call runs, a denied one does not (the model
// gets the reason), an approved Write runs once a reviewer votes through
// `signoff serve`, and a hook whose store cannot be reached blocks the call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { startFakeApi } from './fake-anthropic.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SIGNOFF = process.env.SIGNOFF_BIN ?? join(here, '../../target/debug/signoff');
const CLAUDE = join(here, 'node_modules/@anthropic-ai/claude-code-linux-x64/claude');
const TOKEN = 'claude-test-reviewer-token-0123456789';

const POLICY = `
[policy]
name = "claude-code-tests"
default = "deny"

[groups]
reviewers = ["user:carol@example.com"]

[[rules]]
id = "echo-is-fine"
effect = "allow"
actions = ["claude.Bash"]
when = 'args.command.startsWith("echo ")'

[[rules]]
id = "no-deletes"
effect = "deny"
actions = ["claude.Bash"]
when = 'args.command.contains("rm ")'
reason = "agents never delete files"

[[rules]]
id = "writes-need-a-reviewer"
effect = "approve"
actions = ["claude.Write"]
approvers = "reviewers"
timeout = "5m"
`;

async function freePort() {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

let dir, serve, base;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signoff-claude-'));
  writeFileSync(join(dir, 'policy.toml'), POLICY);
  const common = 'policy = "policy.toml"\nstore = "sqlite:signoff.db"\naudit = ["jsonl:audit.jsonl"]\napprover = "server"\n';
  writeFileSync(join(dir, 'gate.toml'), common + '\n[identity]\nactor = "agent:claude-code"\non_behalf_of = "user:alice@example.com"\n');
  writeFileSync(join(dir, 'broken.toml'), common.replace('sqlite:signoff.db', 'sqlite:/nonexistent-store-dir/signoff.db') + '\n[identity]\nactor = "agent:claude-code"\n');
  const hash = execFileSync(SIGNOFF, ['token', 'hash'], { input: TOKEN }).toString().trim();
  const port = await freePort();
  writeFileSync(join(dir, 'serve.toml'), `listen = "127.0.0.1:${port}"\n` + common.replace('audit.jsonl', 'serve-audit.jsonl') +
    `\n[[server.tokens]]\nprincipal = "user:carol@example.com"\ntoken_hash = "${hash}"\n`);
  serve = spawn(SIGNOFF, ['serve', '--config', join(dir, 'serve.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const seen = (d) => { out += d; if (out.includes('listening on') && out.includes('dispatching')) resolve(); };
    serve.stdout.on('data', seen);
    serve.stderr.on('data', seen);
    serve.on('exit', (c) => reject(new Error(`signoff serve exited ${c}: ${out}`)));
  });
  base = `http://127.0.0.1:${port}`;
});
after(async () => { serve?.kill(); });

const api = async (path, body) => {
  const r = await fetch(base + path, { method: body ? 'POST' : 'GET', body: body && JSON.stringify(body),
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
  return r.json();
};

/** A fresh project with the hook installed by `signoff install claude-code`. */
function project(name, config = 'gate.toml') {
  const p = join(dir, name);
  mkdirSync(join(p, '.claude'), { recursive: true });
  // an existing settings file: install keeps what is in it
  writeFileSync(join(p, '.claude/settings.json'), JSON.stringify({ env: { SIGNOFF_TEST_PROJECT: name }, includeCoAuthoredBy: false }, null, 2));
  const out = execFileSync(SIGNOFF, ['install', 'claude-code', '--config', join(dir, config), '--timeout', '40'], { cwd: p }).toString();
  assert.match(out, /installed the signoff hook in/);
  const settings = JSON.parse(readFileSync(join(p, '.claude/settings.json'), 'utf8'));
  assert.equal(settings.env.SIGNOFF_TEST_PROJECT, name);
  assert.equal(settings.includeCoAuthoredBy, false);
  const hook = settings.hooks.PreToolUse[0].hooks[0];
  assert.equal(hook.onFailure, 'block');
  assert.equal(hook.timeout, 40);
  return p;
}

/** Runs `claude -p` in `cwd` against a fake API that makes `call`. */
async function claude(cwd, call) {
  const api = await startFakeApi({ call });
  const home = mkdtempSync(join(tmpdir(), 'signoff-claude-home-'));
  const child = spawn(CLAUDE, ['-p', 'please do the thing', '--output-format', 'json', '--allowedTools', 'Bash', 'Write', '--model', 'claude-sonnet-4-5'], {
    cwd,
    env: {
      PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: 'sk-ant-fake',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1', DISABLE_AUTOUPDATER: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const [code] = await once(child, 'exit');
  await api.close();
  return { code, stdout, stderr, results: api.toolResults(), requests: api.requests };
}

const resultText = (r) => (typeof r.content === 'string' ? r.content : r.content.map((c) => c.text ?? '').join('\n'));

test('an allowed Bash call runs and its decision is in the trail', async () => {
  const p = project('allowed');
  const r = await claude(p, { name: 'Bash', input: { command: 'echo signoff-was-here > ran.txt', description: 'write a marker' } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(p, 'ran.txt')), `the command ran: ${JSON.stringify(r.results)}`);
  assert.equal(r.results.length, 1);
  assert.notEqual(r.results[0].is_error, true, JSON.stringify(r.results));
  const trail = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const decided = trail.find((x) => x.event === 'policy.decided' && x.action === 'claude.Bash' && x.effect === 'allow');
  assert.ok(decided, 'decision recorded');
  assert.match(decided.action_id, /^claude:[^:]+:toolu_fake_1$/);
  assert.ok(trail.some((x) => x.event === 'action.completed' && x.action_id === decided.action_id && x.outcome === 'handed_over'));
});

test('a denied Bash call does not run and the model receives the reason', async () => {
  const p = project('denied');
  writeFileSync(join(p, 'precious.txt'), 'keep me');
  const r = await claude(p, { name: 'Bash', input: { command: 'rm precious.txt', description: 'delete it' } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(p, 'precious.txt')), 'the file is still there');
  assert.equal(r.results.length, 1);
  assert.equal(r.results[0].is_error, true);
  assert.match(resultText(r.results[0]), /signoff: denied \(rule no-deletes\): agents never delete files/);
});

test('a Write that needs approval runs once a reviewer approves through signoff serve', async () => {
  const p = project('approved');
  const run = claude(p, { name: 'Write', input: { file_path: join(p, 'approved.txt'), content: 'approved content\n' } });
  let req;
  for (let i = 0; i < 300 && !req; i++) {
    req = (await api('/v1/requests?status=pending')).find?.((x) => x.action === 'claude.Write');
    if (!req) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(req, 'a pending request for the Write');
  assert.equal(req.context.framework, 'claude-code');
  assert.equal(req.justification, 'I will run the tool now.');
  await api(`/v1/requests/${req.id}/votes`, { verdict: 'approve' });
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(p, 'approved.txt'), 'utf8'), 'approved content\n');
  assert.notEqual(r.results[0].is_error, true, JSON.stringify(r.results));
});

test('a hook that cannot reach its store blocks the call', async () => {
  const p = project('unreachable', 'broken.toml');
  const r = await claude(p, { name: 'Bash', input: { command: 'echo should-not-run > ran.txt', description: 'marker' } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(p, 'ran.txt')), 'the command did not run');
  assert.equal(r.results[0].is_error, true);
  assert.match(resultText(r.results[0]), /signoff: denied \(error\): .*nonexistent-store-dir/);
});
