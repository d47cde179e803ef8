// One process of the AI SDK v7 toolApproval flow across processes.
// `pause DIR`: the model asks to export; signoff needs a reviewer, so the run
// pauses and the client-held messages are saved. `resume DIR`: a new process
// sends them back with the client's tool-approval-response.
import fs from 'node:fs'
import path from 'node:path'
import { gateTools, toolApproval } from 'signoff/ai'
import { V7, tools, agentRun, scripted, seen } from '../ai-sdk.mjs'
import { newGate, NAMES } from '../helpers.mjs'

const [mode, dir] = process.argv.slice(2)
const ranFile = path.join(dir, 'ran.jsonl')
const ran = fs.existsSync(ranFile) ? fs.readFileSync(ranFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
const recording = { push: (entry) => { ran.push(entry); fs.appendFileSync(ranFile, JSON.stringify(entry) + '\n') } }
const { gate } = newGate({ store: true, dir, stream: `agent-${mode}` })
const gated = gateTools(tools(V7, recording), gate, { names: NAMES, session: 'chat-7' })

if (mode === 'pause') {
  const { result } = await agentRun(V7, gated, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]], { toolApproval })
  const approvalRequests = result.content.filter((p) => p.type === 'tool-approval-request' && !p.isAutomatic)
  fs.writeFileSync(path.join(dir, 'messages.json'), JSON.stringify([{ role: 'user', content: 'do the task' }, ...result.response.messages]))
  // no gate.close(): the Node binding's close() cancels every pending request
  // in the store, this one included, which another process still needs
  console.log(JSON.stringify({ approvalRequests, ran }))
} else {
  const messages = JSON.parse(fs.readFileSync(path.join(dir, 'messages.json'), 'utf8'))
  const requests = messages.flatMap((m) => (m.role === 'assistant' && Array.isArray(m.content) ? m.content : [])).filter((p) => p.type === 'tool-approval-request')
  messages.push({ role: 'tool', content: requests.map((r) => ({ type: 'tool-approval-response', approvalId: r.approvalId, approved: true })) })
  const model = scripted(V7)
  await V7.ai.generateText({ model, tools: gated, toolApproval, messages, stopWhen: V7.ai.stepCountIs(4) })
  await gate.close()
  console.log(JSON.stringify({ ran, seen: seen(model) }))
}
