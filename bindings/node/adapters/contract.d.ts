// Options every signoff framework adapter takes (DESIGN.md §11).
import type { Json } from '../index.js'

/**
 * How a host's tool call becomes a signoff action, and how long a decision
 * may take. `Info` is what the host's hook saw (given to the functions).
 */
export interface AdapterOptions<Info = unknown> {
  /** Prepended to the tool name to make the action name: `fs.` + `deleteFile`. */
  prefix?: string
  /** Tool name → action name; a tool it leaves out falls back to `prefix + tool`. */
  names?: { [tool: string]: string } | ((tool: string) => string | null | undefined)
  /**
   * Namespaces action ids, which are `<framework>:<session>:<call id>` (or
   * `<framework>:<call id>` without one): a chat, thread or run id. The same
   * call must map to the same id when the host comes back to it, so never
   * use a value made fresh per process.
   */
  session?: string | ((info: Info) => string | null | undefined)
  /** Context keys every action carries (besides `framework`, `tool`, `toolCallId`, `session`). */
  context?: { [key: string]: Json } | ((info: Info) => { [key: string]: Json } | null | undefined)
  /**
   * The longest any decision may take, waits for reviewers included
   * (default 5 minutes); past it the call is denied. Keep it below the
   * host's own tool timeout.
   */
  timeoutMs?: number
  /** `result` (default): the model gets the deny text as the tool's result. `throw`: a SignoffError is thrown. */
  onDeny?: 'result' | 'throw'
}

/** What the model sees for a denial: `signoff: denied (rule <id>): <reason>`. */
export type DenyText = `signoff: denied (${string}): ${string}`
