// `signoff/langchain`: the LangChain.js v1 agent middleware (DESIGN.md §11). Needs `langchain` (v1).
import type { AgentMiddleware, ToolCallRequest } from 'langchain'
import type { Gate } from '../../index.js'
import type { AdapterOptions } from '../contract.js'

export type { AdapterOptions, DenyText } from '../contract.js'

export interface SignoffMiddlewareOptions extends AdapterOptions<ToolCallRequest> {
  /**
   * `blocking` (default): a call that needs reviewers waits in the hook (up
   * to `timeoutMs`). `interrupt`: it pauses the graph with `interrupt()`
   * (needs a checkpointer and a `thread_id`); resume with
   * `new Command({ resume: true })` once reviewers voted: the tool runs
   * only if signoff approved it.
   */
  mode?: 'blocking' | 'interrupt'
}

/** What an interrupt carries (`result.__interrupt__[i].value`). */
export interface SignoffInterrupt {
  signoff: { requestId: string; actionId: string; toolCallId: string; tool: string }
}

/**
 * The signoff middleware for `createAgent({ middleware: [signoffMiddleware(gate)] })`:
 * allowed calls run with the permitted (possibly edited) args and complete
 * the permit with the tool's outcome; denials become a `ToolMessage` with
 * `status: 'error'` and the deny text (or throw, with `onDeny: 'throw'`).
 * Action ids are `langchain:<thread id>:<tool call id>`.
 */
export declare function signoffMiddleware(gate: Gate, options?: SignoffMiddlewareOptions): AgentMiddleware
