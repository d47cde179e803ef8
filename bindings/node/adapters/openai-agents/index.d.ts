// `signoff/openai-agents`: the OpenAI Agents JS adapter (DESIGN.md §11). Needs `@openai/agents`.
import type {
  tool,
  RunContext,
  RunState,
  ToolInputGuardrailDefinition,
  ToolInputParameters,
  ToolOptions,
  ToolOutputSchema,
  UnknownContext,
} from '@openai/agents'
import type { Gate } from '../../index.js'
import type { AdapterOptions } from '../contract.js'

export type { AdapterOptions, DenyText } from '../contract.js'

/** What the `session` and `context` functions get. */
export interface AgentsToolCallInfo {
  runContext: RunContext<any> | undefined
  [key: string]: unknown
}

export interface GateToolOptions extends AdapterOptions<AgentsToolCallInfo> {
  /**
   * `false` (default): a call that needs reviewers waits in the tool's input
   * guardrail. `true`: it becomes an interruption (`needsApproval`); save
   * `result.state.toString()`, and once reviewers voted restore it in any
   * process and call `resolveApprovals(state)` before `run(agent, state)`.
   */
  durable?: boolean
}

/**
 * Builds the SDK tool (as `tool(definition)` would) with signoff in front:
 * a denial reaches the model through the guardrail's `rejectContent` (or
 * `throwException`, with `onDeny: 'throw'`); an allowed call runs with the
 * permitted, possibly edited, input and completes the permit.
 */
export declare function gateTool<
  TParameters extends ToolInputParameters = undefined,
  Context = UnknownContext,
  Result = string,
  TOutputSchema extends ToolOutputSchema | undefined = undefined,
>(
  definition: ToolOptions<TParameters, Context, TOutputSchema>,
  gate: Gate,
  options?: GateToolOptions,
): ReturnType<typeof tool<TParameters, Context, Result, TOutputSchema>>

/**
 * A blocking signoff input guardrail for a tool built without `gateTool`.
 * It cannot change what the tool runs with, so an approval whose args a
 * reviewer edited is refused, and it completes the permit when it lets the
 * call through (the tool's outcome is not recorded). Prefer `gateTool`.
 */
export declare function signoffGuardrail(gate: Gate, options?: AdapterOptions<AgentsToolCallInfo>): ToolInputGuardrailDefinition<any>

export interface ResolvedApprovals {
  /** Call ids approved in signoff (`state.approve` was called). */
  approved: string[]
  /** Call ids denied, expired or failed (`state.reject` with the deny text). */
  rejected: string[]
  /** Calls still waiting for reviewers. */
  pending: { callId: string; requestId: string }[]
}

/**
 * Approves or rejects each interruption of `gateTool` tools from signoff's
 * resolution (other interruptions are left alone). Call it on the restored
 * state, in the process that then runs `run(agent, state)`.
 */
export declare function resolveApprovals(state: RunState<any, any>, options?: { wait?: boolean }): Promise<ResolvedApprovals>
