// `signoff/ai`: the Vercel AI SDK adapter (DESIGN.md §11). Needs `ai` (v5, v6 or v7).
import type { Gate } from '../../index.js'
import type { AdapterOptions, DenyText } from '../contract.js'

export type { AdapterOptions, DenyText } from '../contract.js'

/** What the `session` and `context` functions get: the call as `execute` or `toolApproval` saw it. */
export interface AiToolCallInfo {
  toolName: string
  toolCallId: string | undefined
  input: unknown
  /** The SDK's execution options (`execute`'s second argument), when called from `execute`. */
  options: unknown
}

export type GateToolsOptions = AdapterOptions<AiToolCallInfo>

/**
 * Wraps every tool that has an `execute`: allowed calls run with the
 * permitted (possibly edited) input and complete the permit; denied calls
 * never run and return the deny text (or throw, with `onDeny: 'throw'`).
 * Without `toolApproval`, a call that needs approval waits here for the
 * reviewers (up to `timeoutMs`).
 *
 * @example
 * const tools = gateTools({ deleteFile }, gate, { prefix: 'fs.', session: chatId })
 * await generateText({ model, tools, toolApproval, stopWhen: stepCountIs(5), prompt })
 */
export declare function gateTools<T extends { [name: string]: object }>(tools: T, gate: Gate, options?: GateToolsOptions): T

/** The statuses `toolApproval` answers with. */
export type SignoffApprovalStatus =
  | 'not-applicable'
  | { type: 'approved'; reason?: string }
  | { type: 'denied'; reason: DenyText }
  | { type: 'user-approval'; reason: string }

/**
 * The AI SDK v7 `toolApproval` function, for tools wrapped by `gateTools`:
 * allowed → `not-applicable`, approved by reviewers → `approved`, denied →
 * `denied`, waiting → `user-approval` (the run pauses). On the resume the
 * client's `tool-approval-response` is checked against signoff: anything
 * signoff has not approved, for exactly these args, is denied.
 */
export declare function toolApproval(options: {
  toolCall: { toolName: string; toolCallId: string; input: unknown }
  tools?: unknown
  messages?: readonly unknown[]
}): Promise<SignoffApprovalStatus>
