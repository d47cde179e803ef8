// One process of the OpenAI Agents JS durable flow across processes.
// `pause DIR`: the model asks to export; signoff needs a reviewer, so the run
// is interrupted and its state saved. `resume DIR`: a new process restores
// the state, resolves the interruptions from signoff and runs on.
import fs from 'node:fs'
import path from 'node:path'
import { run, RunState } from '@openai/agents'
import { resolveApprovals } from 'signoff/openai-agents'
import { gatedTools, agentRun, agent, scripted, seen } from '../openai-agents-sdk.mjs'
import { newGate, NAMES } from '../helpers.mjs'

const [mode, dir] = process.argv.slice(2)
const ranFile = path.join(dir, 'ran.jsonl')
const ran = fs.existsSync(ranFile) ? fs.readFileSync(ranFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
const recording = { push: (entry) => { ran.push(entry); fs.appendFileSync(ranFile, JSON.stringify(entry) + '\n') } }
const { gate } = newGate({ store: true, dir, stream: `agent-${mode}` })
const tools = gatedTools(gate, recording, { names: NAMES, durable: true, session: 'thread-5' })

if (mode === 'pause') {
  const { result } = await agentRun(tools, [['call_1', 'exportRows', { table: 'users', rows: 5000 }]])
  fs.writeFileSync(path.join(dir, 'state.txt'), result.state.toString())
  // no gate.close(): the Node binding's close() cancels every pending request in the store
  console.log(JSON.stringify({ interruptions: result.interruptions.map((i) => i.rawItem.callId), ran }))
} else {
  const model = scripted()
  const a = agent(model, tools)
  const state = await RunState.fromString(a, fs.readFileSync(path.join(dir, 'state.txt'), 'utf8'))
  const resolved = await resolveApprovals(state)
  await run(a, state)
  await gate.close()
  console.log(JSON.stringify({ resolved, ran, seen: seen(model) }))
}
