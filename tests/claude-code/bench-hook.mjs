// The hook's wall time per allowed call, as Claude Code pays it: spawn
// `signoff hook claude-code`, write one PreToolUse input, wait for exit.
// Usage: SIGNOFF_BIN=target/release/signoff node bench-hook.mjs [RUNS]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SIGNOFF = process.env.SIGNOFF_BIN ?? new URL('../../target/release/signoff', import.meta.url).pathname;
const RUNS = Number(process.argv[2] ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'signoff-hook-bench-'));
writeFileSync(join(dir, 'policy.toml'), `
[policy]
default = "deny"
[groups]
reviewers = ["user:carol@example.com"]
[[rules]]
id = "safe-bash"
effect = "allow"
actions = ["claude.Bash"]
when = 'args.command.startsWith("ls") || args.command.startsWith("git status")'
[[rules]]
id = "no-rm"
effect = "deny"
actions = ["claude.Bash"]
when = 'args.command.contains("rm -rf")'
[[rules]]
id = "writes"
effect = "approve"
actions = ["claude.Write", "claude.Edit"]
approvers = "reviewers"
[[rules]]
id = "github"
effect = "approve"
actions = ["mcp.github.create_*", "mcp.github.merge_*"]
approvers = "reviewers"
`);
const configs = {
  'sqlite store + jsonl audit': 'store = "sqlite:signoff.db"\naudit = ["jsonl:audit.jsonl"]\napprover = "server"\n',
  'sqlite store + sqlite audit': 'store = "sqlite:signoff.db"\naudit = ["sqlite:signoff.db"]\napprover = "server"\n',
  'memory store, no audit': 'approver = "queue"\n',
};
const input = JSON.stringify({
  session_id: 'bench-session', transcript_path: '/nonexistent', cwd: dir, permission_mode: 'default',
  hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls -la', description: 'list' }, tool_use_id: 'toolu_bench',
});

function once(argv, stdin) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, out }));
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const report = (name, xs) => console.log(`${name.padEnd(34)} n=${xs.length}  p50 ${pct(xs, 50).toFixed(2)} ms  p90 ${pct(xs, 90).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms  max ${Math.max(...xs).toFixed(2)} ms`);

const floor = [];
for (let i = 0; i < RUNS; i++) floor.push((await once(['/bin/true'], '')).ms);
report('spawn /bin/true (the floor)', floor);
const start = [];
for (let i = 0; i < RUNS; i++) start.push((await once([SIGNOFF, 'hook', 'claude-code', '--config', '/nonexistent.toml'], '{')).ms);
report('hook, unreadable input (start+deny)', start);
for (const [name, body] of Object.entries(configs)) {
  const file = join(dir, `${name.replace(/\W+/g, '-')}.toml`);
  writeFileSync(file, `policy = "policy.toml"\n${body}[identity]\nactor = "agent:claude-code"\n`);
  const times = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const r = await once([SIGNOFF, 'hook', 'claude-code', '--config', file], input);
    if (r.code !== 0 || !r.out.includes('"permissionDecision":"allow"')) throw new Error(`not allowed: ${r.code} ${r.out}`);
    if (i >= 5) times.push(r.ms); // the first runs warm the page cache
  }
  report(`hook, allowed (${name})`, times);
}
