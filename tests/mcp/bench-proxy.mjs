// The proxy's added latency per allowed tools/call: the official TypeScript
// client calling server-everything's `echo`, directly and through signoff
// mcp-proxy (stdio, and Streamable HTTP).
// Usage: SIGNOFF_BIN=target/release/signoff node bench-proxy.mjs [CALLS]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, startFixture, startEverythingHttp, startHttpProxy } from './harness.mjs';

process.env.SIGNOFF_BIN ??= new URL('../../target/release/signoff', import.meta.url).pathname;
const CALLS = Number(process.argv[2] ?? 500);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

async function measure(transport) {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  for (let i = 0; i < 50; i++) await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
  const xs = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = process.hrtime.bigint();
    await client.callTool({ name: 'echo', arguments: { message: `call ${i}` } });
    xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await client.close();
  return xs;
}
const line = (name, xs) => `${name.padEnd(30)} p50 ${pct(xs, 50).toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms`;

const f = await startFixture();
const quiet = { stderr: 'ignore' };
const direct = await measure(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], ...quiet }));
const proxied = await measure(new StdioClientTransport({ ...f.stdioProxy(), ...quiet }));
const upstream = await startEverythingHttp();
const proxy = await startHttpProxy(f, upstream.url);
const httpDirect = await measure(new StreamableHTTPClientTransport(new URL(upstream.url)));
const httpProxied = await measure(new StreamableHTTPClientTransport(proxy.url));
console.log(`${CALLS} allowed tools/call (echo) each, after 50 warm-up calls`);
for (const [name, a, b] of [['stdio', direct, proxied], ['streamable http', httpDirect, httpProxied]]) {
  console.log(line(`${name}, direct`, a));
  console.log(line(`${name}, through the proxy`, b));
  console.log(`${name}: added p50 ${(pct(b, 50) - pct(a, 50)).toFixed(3)} ms, p99 ${(pct(b, 99) - pct(a, 99)).toFixed(3)} ms`);
}
await proxy.stop();
await upstream.stop();
await f.stop();
