// Shared by the MCP tests: a gate config whose store is shared with a real
// `signoff serve` (reviewers vote through its API), the proxy's command
// line, and helpers to find and vote on pending requests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createServer } from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
export const SIGNOFF = process.env.SIGNOFF_BIN ?? join(here, '../../target/debug/signoff');
export const EVERYTHING = join(here, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const TOKEN = 'mcp-test-reviewer-token-0123456789';

export async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** A folder with policy, agent config and server config; `signoff serve` running on it. */
export async function startFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'signoff-mcp-'));
  copyFileSync(join(here, 'fixtures/policy.toml'), join(dir, 'policy.toml'));
  const common = 'policy = "policy.toml"\nstore = "sqlite:signoff.db"\naudit = ["jsonl:audit.jsonl"]\n';
  writeFileSync(join(dir, 'gate.toml'),
    common + 'approver = "server"\n\n[identity]\nactor = "agent:mcp-client"\non_behalf_of = "user:alice@example.com"\n');
  const hash = execFileSync(SIGNOFF, ['token', 'hash'], { input: TOKEN }).toString().trim();
  const port = await freePort();
  writeFileSync(join(dir, 'serve.toml'),
    `listen = "127.0.0.1:${port}"\n` + common.replace('audit.jsonl', 'serve-audit.jsonl') +
    'approver = "server"\n\n[[server.tokens]]\nprincipal = "user:carol@example.com"\n' + `token_hash = "${hash}"\n`);
  const serve = spawn(SIGNOFF, ['serve', '--config', join(dir, 'serve.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    // stdout carries the listening line, stderr the dispatcher's
    const seen = () => { if (out.includes('listening on') && out.includes('dispatching')) resolve(); };
    serve.stdout.on('data', (d) => { out += d; seen(); });
    serve.stderr.on('data', (d) => { out += d; process.stderr.write(d); seen(); });
    serve.on('exit', (c) => reject(new Error(`signoff serve exited ${c}: ${out}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const api = async (path, init = {}) => {
    const r = await fetch(base + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
    const body = await r.json();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(body)}`);
    return body;
  };
  const fixture = {
    dir,
    config: join(dir, 'gate.toml'),
    /** The proxy in front of server-everything over stdio, as the client's command. */
    stdioProxy(extra = []) {
      return { command: SIGNOFF, args: ['mcp-proxy', '--config', join(dir, 'gate.toml'), '--name', 'everything', ...extra, '--', process.execPath, EVERYTHING, 'stdio'] };
    },
    /** Every request, as the API shows it. */
    async requests(status) {
      const r = await api('/v1/requests' + (status ? `?status=${status}` : ''));
      return Array.isArray(r) ? r : (r.requests ?? r.items ?? []);
    },
    /** Waits for a pending request for `action` and returns it. */
    async pending(action, timeoutMs = 15000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const found = (await fixture.requests('pending')).find((r) => r.action === action);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no pending request for ${action}`);
    },
    async request(id) { return api(`/v1/requests/${id}`); },
    async vote(id, verdict, extra = {}) {
      return api(`/v1/requests/${id}/votes`, { method: 'POST', body: JSON.stringify({ verdict, ...extra }) });
    },
    trail() {
      const p = join(dir, 'audit.jsonl');
      return existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    },
    async stop() {
      serve.kill();
      await once(serve, 'exit').catch(() => {});
    },
  };
  return fixture;
}

/** Waits until `f()` is truthy. */
export async function eventually(f, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for `needle` on a child's stdout or stderr (passing stderr on). */
function waitFor(child, needle, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const look = (d) => { out += d; if (out.includes(needle)) resolve(); };
    child.stdout?.on('data', look);
    child.stderr?.on('data', (d) => { process.stderr.write(d); look(d); });
    child.on('exit', (c) => reject(new Error(`${what} exited ${c}: ${out}`)));
  });
}

/** server-everything over Streamable HTTP. */
export async function startEverythingHttp() {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  await waitFor(child, 'listening on port', 'server-everything');
  return { url: `http://127.0.0.1:${port}/mcp`, async stop() { child.kill(); await once(child, 'exit').catch(() => {}); } };
}

/** `signoff mcp-proxy --listen` in front of `upstream`. */
export async function startHttpProxy(fixture, upstream, extra = []) {
  const port = await freePort();
  const child = spawn(SIGNOFF, ['mcp-proxy', '--config', fixture.config, '--name', 'web', '--listen', `127.0.0.1:${port}`, '--upstream', upstream, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitFor(child, 'listening on', 'signoff mcp-proxy');
  return { url: new URL(`http://127.0.0.1:${port}/mcp`), async stop() { child.kill(); await once(child, 'exit').catch(() => {}); } };
}
