// signoff in front of Vercel AI SDK tools (v7). Every tool call is decided
// by the policy before it runs; one that needs a reviewer pauses the chat
// turn (`toolApproval` answers `user-approval`) instead of holding the
// request open. Reviewers vote in Slack, Teams, the web page or the API;
// when the client comes back with its `tool-approval-response`, the tool
// runs only if signoff approved it, with the args the reviewer approved.
// Checked with `tsc --strict` (tests/node-adapters, npm run typecheck).
import { rm } from 'node:fs/promises'
import { generateText, stepCountIs, tool } from 'ai'
import type { LanguageModel, ModelMessage } from 'ai'
import { z } from 'zod'
import { Gate } from 'signoff'
import { gateTools, toolApproval } from 'signoff/ai'

const deleteFile = tool({
  description: 'Delete a file',
  inputSchema: z.object({ path: z.string() }),
  execute: async ({ path }) => {
    await rm(path)
    return `deleted ${path}`
  },
})

const readFile = tool({
  description: 'Read a file',
  inputSchema: z.object({ path: z.string() }),
  execute: async ({ path }) => `contents of ${path}`,
})

/** One chat turn; `messages` is the whole chat so far, as the client holds it. */
export async function chatTurn(gate: Gate, model: LanguageModel, chatId: string, messages: ModelMessage[]) {
  // action names fs.deleteFile / fs.readFile; action ids ai:<chatId>:<tool call id>
  const tools = gateTools({ deleteFile, readFile }, gate, { prefix: 'fs.', session: chatId, timeoutMs: 30_000 })
  const result = await generateText({ model, tools, toolApproval, messages, stopWhen: stepCountIs(5) })
  // what the client shows while reviewers decide (the reason names the signoff request)
  const waiting = result.content.flatMap((part) =>
    part.type === 'tool-approval-request' && !part.isAutomatic ? [{ approvalId: part.approvalId, reason: part.reason }] : [],
  )
  return { messages: [...messages, ...result.response.messages], waiting, text: result.text }
}

/** After the reviewers voted, the client answers the approval requests and runs the next turn. */
export function answered(messages: ModelMessage[], approvalIds: string[]): ModelMessage[] {
  return [
    ...messages,
    { role: 'tool', content: approvalIds.map((approvalId) => ({ type: 'tool-approval-response' as const, approvalId, approved: true })) },
  ]
}

export function gateFromConfig(): Gate {
  // policy, store (shared with the approval server), audit, identity and channels
  return Gate.fromConfig(process.env.SIGNOFF_CONFIG ?? 'signoff-gate.toml')
}
