// A small local fake of the Anthropic Messages API, enough for Claude Code
// in `-p` mode: the first turn of a conversation answers with a text block
// and one `tool_use` (the scripted call), the turn after the tool result
// answers with text. Every request is kept for the test to read.
import { createServer } from 'node:http';

/** Starts the fake; `script.call` is the tool call `{ name, input }` to make. */
export async function startFakeApi(script) {
  const requests = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const parsed = body ? JSON.parse(body) : null;
      requests.push({ method: req.method, url: req.url, body: parsed });
      if (req.method !== 'POST' || !req.url.startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not in the fake' } }));
        return;
      }
      const last = parsed.messages.at(-1);
      const answered = Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result');
      const blocks = answered
        ? [{ type: 'text', text: 'done' }]
        : [{ type: 'text', text: script.say ?? 'I will run the tool now.' }, { type: 'tool_use', id: `toolu_fake_${++n}`, name: script.call.name, input: script.call.input }];
      if (!parsed.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: `msg_${n}`, type: 'message', role: 'assistant', model: parsed.model, content: blocks,
          stop_reason: answered ? 'end_turn' : 'tool_use', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 10 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
      send('message_start', { message: { id: `msg_${requests.length}`, type: 'message', role: 'assistant', model: parsed.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } });
      blocks.forEach((b, index) => {
        if (b.type === 'text') {
          send('content_block_start', { index, content_block: { type: 'text', text: '' } });
          send('content_block_delta', { index, delta: { type: 'text_delta', text: b.text } });
        } else {
          send('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
          send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
        }
        send('content_block_stop', { index });
      });
      send('message_delta', { delta: { stop_reason: answered ? 'end_turn' : 'tool_use', stop_sequence: null }, usage: { output_tokens: 10 } });
      send('message_stop', {});
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    /** The tool results the model was sent. */
    toolResults() {
      return requests.flatMap((r) => (r.body?.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .filter((b) => b.type === 'tool_result'));
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
