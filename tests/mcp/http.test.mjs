// signoff mcp-proxy over Streamable HTTP, between the official TypeScript
// SDK client and server-everything's Streamable HTTP server, both unmodified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFixture, startEverythingHttp, startHttpProxy, eventually } from './harness.mjs';

let f, upstream, proxy, shortProxy;
before(async () => {
  f = await startFixture();
  upstream = await startEverythingHttp();
  proxy = await startHttpProxy(f, upstream.url, ['--progress-every', '300ms']);
  shortProxy = await startHttpProxy(f, upstream.url, ['--max-wait', '2s', '--hide-denied']);
});
after(async () => {
  for (const p of [shortProxy, proxy, upstream]) await p?.stop();
  await f?.stop();
});

async function connect(url = proxy.url) {
  const client = new Client({ name: 'signoff-ts-http-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  return { client, transport };
}
const text = (r) => r.content.map((c) => c.text).join('\n');

test('over HTTP an allowed call returns the real result, a denied one isError', async () => {
  const { client, transport } = await connect();
  assert.ok(transport.sessionId, 'the upstream session id reaches the client');
  assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'web' } })), 'Echo: web');
  const denied = await client.callTool({ name: 'get-env', arguments: {} });
  assert.equal(denied.isError, true);
  assert.equal(text(denied), 'signoff: denied (rule no-env): environment variables hold secrets');
  await transport.terminateSession();
  await client.close();
  const done = await eventually(() => f.trail().find((x) => x.event === 'action.completed' && x.action === 'mcp.web.echo'));
  assert.equal(done.outcome, 'success');
});

test('over HTTP a held call waits and a vote through signoff serve releases it', async () => {
  const { client } = await connect();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 1000, b: 1 } });
  const req = await f.pending('mcp.web.get-sum');
  assert.equal(req.context.transport, 'http');
  assert.ok(req.context.session_id);
  await f.vote(req.id, 'approve');
  assert.equal(text(await call), 'The sum of 1000 and 1 is 1001.');
  await client.close();
});

test('over HTTP a call with a progress token streams progress while it waits', async () => {
  const { client } = await connect();
  const seen = [];
  const call = client.callTool({ name: 'get-sum', arguments: { a: 2000, b: 2 } }, undefined, {
    timeout: 1000, resetTimeoutOnProgress: true, onprogress: (p) => seen.push(p),
  });
  const req = await f.pending('mcp.web.get-sum');
  await new Promise((r) => setTimeout(r, 2000));
  await f.vote(req.id, 'approve', { args: { a: 3, b: 2 } });
  assert.equal(text(await call), 'The sum of 3 and 2 is 5.');
  assert.ok(seen.length >= 3, JSON.stringify(seen));
  assert.match(seen[0].message, /waiting for approval of mcp.web.get-sum/);
  // the server's own progress still comes through on an allowed call
  const steps = [];
  const long = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } }, undefined, { onprogress: (p) => steps.push(p.progress) });
  assert.match(text(long), /completed/i);
  // The SDK runs notification handlers a microtask after a response that
  // arrived in the same read (Protocol._onnotification), and the response
  // unregisters the call's progress handler: the last step may be dropped
  // by the client itself. Every step the client saw must be the server's, in
  // order, and all but possibly the last must arrive.
  const all = [1, 2];
  assert.deepEqual(steps, all.slice(0, steps.length));
  assert.ok(steps.length >= all.length - 1, `progress steps ${JSON.stringify(steps)}`);
  await client.close();
});

test('over HTTP a client-side cancel withdraws the request', async () => {
  const { client } = await connect();
  const abort = new AbortController();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 4000, b: 4 } }, undefined, { signal: abort.signal });
  const req = await f.pending('mcp.web.get-sum');
  abort.abort('never mind');
  await assert.rejects(call);
  const after = await eventually(async () => { const r = await f.request(req.id); return r.status !== 'pending' && r; });
  assert.equal(after.status, 'cancelled');
  assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'on' } })), 'Echo: on');
  await client.close();
});

test('over HTTP a call past --max-wait is denied, and --hide-denied filters tools/list', async () => {
  const { client } = await connect(shortProxy.url);
  const r = await client.callTool({ name: 'get-sum', arguments: { a: 5000, b: 5 } });
  assert.equal(r.isError, true);
  assert.match(text(r), /^signoff: denied \(rule big-sums\): no decision within 2s; approval request \S+ was withdrawn$/);
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('echo') && !names.includes('get-env') && !names.some((n) => n.startsWith('toggle-')), names.join());
  await client.close();
});

test('over HTTP resources and prompts still work', async () => {
  const { client } = await connect();
  const { resources } = await client.listResources();
  assert.ok(resources.length > 0);
  assert.ok((await client.readResource({ uri: resources[0].uri })).contents.length > 0);
  assert.ok((await client.getPrompt({ name: 'simple-prompt' })).messages.length > 0);
  await client.ping();
  await client.close();
});
