// signoff in front of OpenAI Agents JS tools, in durable mode: a call that
// needs a reviewer interrupts the run; the run state is saved and, once the
// reviewers voted (in any process, on any channel), restored anywhere and
// resolved from signoff's decision. Approving the state by hand is not
// enough: the tool only runs with a permit signoff issued.
// Checked with `tsc --strict` (tests/node-adapters, npm run typecheck).
import { Agent, run, RunState } from '@openai/agents'
import { z } from 'zod'
import type { Gate } from 'signoff'
import { gateTool, resolveApprovals } from 'signoff/openai-agents'

function billingAgent(gate: Gate, threadId: string) {
  const exportTable = gateTool(
    {
      name: 'export_table',
      description: 'Export rows of a table to the finance bucket',
      parameters: z.object({ table: z.string(), rows: z.number() }),
      execute: async ({ table, rows }) => `exported ${rows} rows of ${table}`,
    },
    gate,
    { names: { export_table: 'db.export' }, durable: true, session: threadId },
  )
  return new Agent({ name: 'billing', instructions: 'Help the finance team.', model: 'gpt-4.1', tools: [exportTable] })
}

/** Starts a run; when it is interrupted for approval, hands its state to `save`. */
export async function start(gate: Gate, threadId: string, input: string, save: (state: string) => Promise<void>) {
  const result = await run(billingAgent(gate, threadId), input)
  if (result.interruptions.length > 0) {
    await save(result.state.toString())
    return null
  }
  return result.finalOutput ?? null
}

/** Later, in any process: goes on once signoff decided; `null` while reviewers have not. */
export async function resume(gate: Gate, threadId: string, saved: string) {
  const agent = billingAgent(gate, threadId)
  const state = await RunState.fromString(agent, saved)
  const { pending } = await resolveApprovals(state)
  if (pending.length > 0) return null
  const result = await run(agent, state)
  return result.finalOutput ?? null
}
