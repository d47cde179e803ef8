// signoff as LangChain.js v1 agent middleware, in interrupt mode: a call
// that needs a reviewer pauses the graph (checkpointed), and resuming it
// runs the tool only if signoff approved it, with the approved args.
// Checked with `tsc --strict` (tests/node-adapters, npm run typecheck).
import { createAgent, tool } from 'langchain'
import { Command, MemorySaver } from '@langchain/langgraph'
import { z } from 'zod'
import type { Gate } from 'signoff'
import { signoffMiddleware } from 'signoff/langchain'
import type { SignoffInterrupt } from 'signoff/langchain'

const restartService = tool(async ({ service }) => `restarted ${service}`, {
  name: 'restart_service',
  description: 'Restart a production service',
  schema: z.object({ service: z.string() }),
})

export function opsAgent(gate: Gate) {
  return createAgent({
    model: 'openai:gpt-4.1',
    tools: [restartService],
    // action name ops.restart_service; action ids langchain:<thread id>:<tool call id>
    middleware: [signoffMiddleware(gate, { prefix: 'ops.', mode: 'interrupt', timeoutMs: 30_000 })],
    checkpointer: new MemorySaver(),
  })
}

/** Asks the agent; resolves to the signoff requests it is waiting on (none when it finished). */
export async function ask(agent: ReturnType<typeof opsAgent>, threadId: string, question: string) {
  const state = await agent.invoke({ messages: [{ role: 'user', content: question }] }, { configurable: { thread_id: threadId } })
  const interrupts = (state.__interrupt__ ?? []) as { value: SignoffInterrupt }[]
  return interrupts.map((i) => i.value.signoff.requestId)
}

/** Once reviewers voted: the resume value proves nothing, signoff's decision does. */
export async function goOn(agent: ReturnType<typeof opsAgent>, threadId: string) {
  const state = await agent.invoke(new Command({ resume: true }), { configurable: { thread_id: threadId } })
  return state.messages.at(-1)?.content
}
