// signoff mcp-proxy over stdio, between the official TypeScript SDK client
// and @modelcontextprotocol/server-everything, both unmodified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startFixture, eventually } from './harness.mjs';

let f;
before(async () => { f = await startFixture(); });
after(async () => { await f?.stop(); });

async function connect(extra = []) {
  const client = new Client({ name: 'signoff-ts-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ ...f.stdioProxy(extra), stderr: 'pipe' }));
  return client;
}

const text = (r) => r.content.map((c) => c.text).join('\n');

test('an allowed call returns the real result and its outcome is in the trail', async () => {
  const client = await connect();
  const r = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  assert.equal(r.isError, undefined);
  assert.equal(text(r), 'Echo: hello');
  await client.close();
  const done = await eventually(() => f.trail().find((x) => x.event === 'action.completed' && x.action === 'mcp.everything.echo'));
  assert.equal(done.outcome, 'success');
  const decided = f.trail().find((x) => x.event === 'policy.decided' && x.action === 'mcp.everything.echo');
  assert.equal(decided.effect, 'allow');
  assert.equal(decided.actor, 'agent:mcp-client');
});

test('a denied call returns isError with the rule and the reason', async () => {
  const client = await connect();
  const r = await client.callTool({ name: 'get-env', arguments: {} });
  assert.equal(r.isError, true);
  assert.equal(text(r), 'signoff: denied (rule no-env): environment variables hold secrets');
  // a tool no rule names: the policy default
  const d = await client.callTool({ name: 'get-resource-links', arguments: { count: 1 } });
  assert.equal(d.isError, true);
  assert.match(text(d), /^signoff: denied \(default\): /);
  await client.close();
});

test('a call that needs approval waits and a vote through signoff serve releases it', async () => {
  const client = await connect();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 } });
  const req = await f.pending('mcp.everything.get-sum');
  assert.deepEqual(req.args, { a: 500, b: 1 });
  assert.equal(req.reason, 'sums over 100 need a reviewer');
  assert.equal(req.context.framework, 'mcp');
  await f.vote(req.id, 'approve');
  const r = await call;
  assert.equal(text(r), 'The sum of 500 and 1 is 501.');
  await client.close();
});

test('a reviewer who edits the arguments changes what the server runs', async () => {
  const client = await connect();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 900, b: 9 } });
  const req = await f.pending('mcp.everything.get-sum');
  await f.vote(req.id, 'approve', { args: { a: 7, b: 9 } });
  assert.equal(text(await call), 'The sum of 7 and 9 is 16.');
  await client.close();
});

test('a reviewer who denies is quoted to the model', async () => {
  const client = await connect();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 101, b: 0 } });
  const req = await f.pending('mcp.everything.get-sum');
  await f.vote(req.id, 'deny', { comment: 'not now' });
  const r = await call;
  assert.equal(r.isError, true);
  assert.match(text(r), /^signoff: denied \(rule big-sums\): denied by reviewer user:carol@example.com/);
  assert.match(text(r), /not now/);
  await client.close();
});

test('a client-side cancel withdraws the request', async () => {
  const client = await connect();
  const abort = new AbortController();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 300, b: 3 } }, undefined, { signal: abort.signal });
  const req = await f.pending('mcp.everything.get-sum');
  abort.abort('the user gave up');
  await assert.rejects(call);
  const after = await eventually(async () => { const r = await f.request(req.id); return r.status !== 'pending' && r; });
  assert.equal(after.status, 'cancelled');
  // the session goes on
  assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'still here' } })), 'Echo: still here');
  await client.close();
});

test('a call still waiting at --max-wait is denied and its request withdrawn', async () => {
  const client = await connect(['--max-wait', '2s']);
  const started = Date.now();
  const r = await client.callTool({ name: 'get-sum', arguments: { a: 200, b: 2 } });
  assert.ok(Date.now() - started < 10000);
  assert.equal(r.isError, true);
  assert.match(text(r), /^signoff: denied \(rule big-sums\): no decision within 2s; approval request \S+ was withdrawn$/);
  const id = text(r).match(/approval request (\S+) was/)[1];
  assert.equal((await f.request(id)).status, 'cancelled');
  await client.close();
});

test('progress notifications keep a waiting call alive past the client timeout', async () => {
  const client = await connect(['--progress-every', '300ms']);
  const seen = [];
  const call = client.callTool({ name: 'get-sum', arguments: { a: 400, b: 4 } }, undefined, {
    timeout: 1000, resetTimeoutOnProgress: true, onprogress: (p) => seen.push(p),
  });
  const req = await f.pending('mcp.everything.get-sum');
  await new Promise((r) => setTimeout(r, 2000));
  await f.vote(req.id, 'approve');
  assert.equal(text(await call), 'The sum of 400 and 4 is 404.');
  assert.ok(seen.length >= 3, JSON.stringify(seen));
  assert.match(seen[0].message, /^signoff: waiting for approval of mcp.everything.get-sum \(request /);
  assert.ok(seen.every((p, i) => i === 0 || p.progress > seen[i - 1].progress));
  await client.close();
});

test('resources, prompts, sampling and server progress still work', async () => {
  const client = new Client({ name: 'signoff-ts-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    model: 'fake', role: 'assistant', content: { type: 'text', text: `sampled: ${req.params.messages[0].content.text}` },
  }));
  await client.connect(new StdioClientTransport({ ...f.stdioProxy(), stderr: 'pipe' }));
  // a server→client request and its answer pass through the proxy
  const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'ping', maxTokens: 5 } });
  assert.match(text(sampled), /sampled: .*ping/);
  const steps = [];
  const long = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, { onprogress: (p) => steps.push(p.progress) });
  assert.match(text(long), /completed/i);
  // The SDK runs notification handlers a microtask after a response that
  // arrived in the same read (Protocol._onnotification), and the response
  // unregisters the call's progress handler: the last step may be dropped
  // by the client itself. Every step the client saw must be the server's, in
  // order, and all but possibly the last must arrive.
  const all = [1, 2, 3];
  assert.deepEqual(steps, all.slice(0, steps.length));
  assert.ok(steps.length >= all.length - 1, `progress steps ${JSON.stringify(steps)}`);
  const { resources } = await client.listResources();
  assert.ok(resources.length > 0);
  const read = await client.readResource({ uri: resources[0].uri });
  assert.ok(read.contents.length > 0);
  const { prompts } = await client.listPrompts();
  assert.ok(prompts.some((p) => p.name === 'simple-prompt'));
  const prompt = await client.getPrompt({ name: 'simple-prompt' });
  assert.ok(prompt.messages.length > 0);
  await client.ping();
  await client.close();
});

test('--hide-denied leaves out the tools the policy denies outright', async () => {
  const all = await connect();
  const names = (await all.listTools()).tools.map((t) => t.name);
  await all.close();
  const hidden = await connect(['--hide-denied']);
  const shown = (await hidden.listTools()).tools.map((t) => t.name);
  await hidden.close();
  assert.ok(names.includes('get-env') && names.includes('toggle-simulated-logging'));
  assert.ok(!shown.includes('get-env') && !shown.some((n) => n.startsWith('toggle-')), shown.join());
  assert.ok(!shown.includes('get-resource-links'), 'denied by the default');
  for (const kept of ['echo', 'get-sum']) assert.ok(shown.includes(kept), kept);
});

// The protocol itself, line by line: nothing but JSON-RPC on stdout, a
// cancelled call gets no answer, a line that is not JSON is not passed on.
test('the proxy stdout carries only MCP messages and a cancelled call gets no answer', async () => {
  const { command, args } = f.stdioProxy();
  const proxy = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let buf = '';
  proxy.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
  });
  const send = (m) => proxy.stdin.write((typeof m === 'string' ? m : JSON.stringify(m)) + '\n');
  const answer = (id) => eventually(() => lines.map((l) => JSON.parse(l)).find((m) => m.id === id));
  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  assert.ok((await answer(1)).result.serverInfo);
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: 'raw' } } });
  assert.equal((await answer(2)).result.content[0].text, 'Echo: raw');
  send({ jsonrpc: '2.0', id: 'three', method: 'tools/call', params: { name: 'get-env', arguments: {} } });
  assert.equal((await answer('three')).result.isError, true);
  send('this is not json {');
  assert.equal((await answer(null)).error.code, -32700);
  send({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo', arguments: { message: 'no id' } } });
  send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'get-sum', arguments: { a: 700, b: 7 }, _meta: { progressToken: 'p4' } } });
  const req = await f.pending('mcp.everything.get-sum');
  send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4, reason: 'changed my mind' } });
  const cancelled = await eventually(async () => { const r = await f.request(req.id); return r.status === 'cancelled' && r; });
  assert.match(JSON.stringify(cancelled), /changed my mind|cancelled/);
  send({ jsonrpc: '2.0', id: 5, method: 'prompts/list' });
  assert.ok((await answer(5)).result.prompts.length > 0);
  await new Promise((r) => setTimeout(r, 500));
  proxy.stdin.end();
  const code = await new Promise((r) => proxy.on('exit', r));
  assert.equal(code, 0);
  const msgs = lines.map((l) => JSON.parse(l));
  for (const m of msgs) assert.equal(m.jsonrpc, '2.0', JSON.stringify(m));
  assert.ok(!msgs.some((m) => m.id === 4), 'no answer to the cancelled call');
  assert.ok(!msgs.some((m) => JSON.stringify(m).includes('no id')), 'the call without an id never ran');
});
