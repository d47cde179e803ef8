'use strict'
/**
 * signoff for LangChain.js v1 agents (`createAgent`): a middleware whose
 * `wrapToolCall` decides each tool call before the tool runs.
 *
 * - `mode: 'blocking'` (default): the call waits for reviewers in the hook.
 * - `mode: 'interrupt'`: a call that needs reviewers pauses the graph with
 *   `interrupt()` (needs a checkpointer and a `thread_id`). Resuming with
 *   `new Command({ resume })` re-enters the hook; the same call maps to the
 *   same signoff request, and the tool runs only if signoff approved it:
 *   the resume value itself is never taken as an approval.
 *
 * An allowed call runs with the permitted (possibly edited) args and the
 * permit is completed with the tool's outcome; a denial becomes a
 * `ToolMessage` with `status: 'error'` and the deny text.
 */

const { Guard, notApproved } = require('../contract.js')

const MODES = new Set(['blocking', 'interrupt'])

/** The text of the AI message that made this tool call, when the model wrote any. */
function justification(state, toolCallId) {
  const messages = state && Array.isArray(state.messages) ? state.messages : []
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]
    const calls = message && Array.isArray(message.tool_calls) ? message.tool_calls : null
    if (!calls || !calls.some((c) => c && c.id === toolCallId)) continue
    const content = message.content
    if (typeof content === 'string') return content
    if (Array.isArray(content)) {
      return content.map((part) => (typeof part === 'string' ? part : part && part.type === 'text' ? part.text : '')).join('')
    }
    return undefined
  }
  return undefined
}

function build(framework, from) {
  const { createMiddleware, ToolMessage } = framework
  for (const [name, value] of Object.entries({ createMiddleware, ToolMessage })) {
    if (value == null) throw new Error(`\`signoff/langchain\`: \`${from}\` has no \`${name}\`; this version of langchain is not supported`)
  }

  /**
   * The signoff middleware for `createAgent({ middleware: [...] })`.
   * Options: the adapter options and `mode` (`blocking` or `interrupt`).
   * The thread id namespaces action ids unless `session` is given.
   */
  function signoffMiddleware(gate, options = {}) {
    const { mode = 'blocking', ...adapterOptions } = options || {}
    if (!MODES.has(mode)) throw new TypeError('signoffMiddleware: `mode` must be "blocking" or "interrupt"')
    const guard = new Guard(gate, adapterOptions, 'langchain', { name: 'signoffMiddleware' })

    const deny = (toolCall, err) =>
      new ToolMessage({ content: guard.refuse(err), tool_call_id: toolCall.id, name: toolCall.name, status: 'error' })

    const outcome = (result) =>
      result && result.status === 'error'
        ? { ok: false, detail: typeof result.content === 'string' ? result.content : JSON.stringify(result.content) }
        : { ok: true }

    return createMiddleware({
      name: 'signoff',
      wrapToolCall: async (request, handler) => {
        const toolCall = request.toolCall
        const runtime = request.runtime || {}
        const threadId = runtime.configurable && runtime.configurable.thread_id
        const call = {
          tool: toolCall.name,
          args: toolCall.args,
          callId: toolCall.id,
          session: threadId,
          context: threadId ? { threadId: String(threadId) } : {},
          justification: justification(request.state, toolCall.id),
          signal: runtime.signal,
          info: request,
        }
        let decision = await guard.decide(call, { wait: mode === 'blocking' })
        if (decision.pending) {
          if (typeof runtime.interrupt !== 'function' || !threadId) {
            return deny(toolCall, new TypeError('interrupt mode needs a checkpointer and a `thread_id` in the run config'))
          }
          // the first time this throws and the graph pauses; on resume it returns the resume value, which proves nothing
          runtime.interrupt({
            signoff: { requestId: decision.pending, actionId: decision.action.id, toolCallId: toolCall.id, tool: toolCall.name },
          })
          decision = await guard.decide(call, { wait: false })
          if (decision.pending) return deny(toolCall, notApproved(decision.pending))
        }
        if (!decision.permit) return deny(toolCall, decision.denied)
        return guard.run(decision.permit, (args) => handler({ ...request, toolCall: { ...toolCall, args } }), outcome)
      },
    })
  }

  return { signoffMiddleware }
}

module.exports = { build }
