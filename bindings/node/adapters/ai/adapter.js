'use strict'
/**
 * signoff for the Vercel AI SDK (v5, v6, v7): `gateTools` wraps each tool's
 * `execute`, and on v7 `toolApproval` turns signoff's decision into the
 * SDK's approval status, so a pending approval pauses the run instead of
 * holding the request open. The tool itself only ever runs with a permit
 * signoff issued in this process: an approval response the client sends
 * back is never taken on trust.
 */

const { Guard, denyText, notApproved, within } = require('../contract.js')

/** Marks a wrapped tool with the guard that decides its calls. */
const GUARD = Symbol.for('signoff.ai.guard')

const isAsyncGeneratorFunction = (fn) => Object.prototype.toString.call(fn) === '[object AsyncGeneratorFunction]'

function hostCall(tool, input, options) {
  return {
    tool,
    args: input,
    callId: options && options.toolCallId,
    signal: options && options.abortSignal,
    info: { toolName: tool, toolCallId: options && options.toolCallId, input, options },
  }
}

function gatedExecute(guard, tool, execute) {
  if (isAsyncGeneratorFunction(execute)) {
    // a streaming tool: the SDK wants the iterable itself, not a promise of it
    return async function* signoffExecute(input, options) {
      const decision = await guard.decide(hostCall(tool, input, options), { wait: true })
      if (!decision.permit) {
        yield guard.refuse(decision.denied || notApproved(decision.pending))
        return
      }
      yield* await guard.run(decision.permit, (args) => execute.call(this, args, options))
    }
  }
  return async function signoffExecute(input, options) {
    const decision = await guard.decide(hostCall(tool, input, options), { wait: true })
    if (!decision.permit) return guard.refuse(decision.denied || notApproved(decision.pending))
    return guard.run(decision.permit, (args) => execute.call(this, args, options))
  }
}

/**
 * Wraps every tool of a tool set that has an `execute`: an allowed call runs
 * with the permitted (possibly edited) input and completes the permit with
 * its outcome; a denied call never runs and the model gets the deny text as
 * the tool result (or the error, with `onDeny: 'throw'`). Without
 * `toolApproval`, a call that needs approval waits for the reviewers here.
 * Tools without `execute` (client-side, provider-executed) are returned as
 * they are: nothing runs them in this process.
 */
function gateTools(tools, gate, options) {
  if (tools === null || typeof tools !== 'object' || Array.isArray(tools)) {
    throw new TypeError('gateTools(tools, gate, options): `tools` must be an object of AI SDK tools')
  }
  const guard = new Guard(gate, options, 'ai', { name: 'gateTools' })
  const out = {}
  for (const [name, tool] of Object.entries(tools)) {
    if (tool === null || typeof tool !== 'object') throw new TypeError(`gateTools: tool \`${name}\` is not a tool object`)
    if (typeof tool.execute !== 'function') {
      out[name] = tool
      continue
    }
    out[name] = { ...tool, execute: gatedExecute(guard, name, tool.execute), [GUARD]: { guard, name } }
  }
  return out
}

/** Whether the (client-held) messages answer an approval request for this call. */
function answered(messages, toolCallId) {
  if (!Array.isArray(messages)) return false
  const asked = new Set()
  for (const message of messages) {
    if (!message || message.role !== 'assistant' || !Array.isArray(message.content)) continue
    for (const part of message.content) {
      if (part && part.type === 'tool-approval-request' && part.toolCallId === toolCallId) asked.add(part.approvalId)
    }
  }
  if (asked.size === 0) return false
  for (const message of messages) {
    if (!message || message.role !== 'tool' || !Array.isArray(message.content)) continue
    for (const part of message.content) {
      if (part && part.type === 'tool-approval-response' && asked.has(part.approvalId)) return true
    }
  }
  return false
}

async function pendingReason(guard, requestId) {
  try {
    const request = await within(guard.gate.request(requestId), guard.timeoutMs, null, 'reading the request')
    const rule = request.rules && request.rules.length ? ` (rule ${request.rules.join(', ')})` : ''
    return `signoff: approval required${rule}: ${request.reason}; request ${requestId}`
  } catch {
    return `signoff: approval required; request ${requestId}`
  }
}

function denied(guard, err) {
  if (guard.onDeny === 'throw') guard.refuse(err)
  return { type: 'denied', reason: denyText(err) }
}

/**
 * The AI SDK v7 `toolApproval` function (pass it as is: `toolApproval` in
 * `generateText`, `streamText` or `ToolLoopAgent`). For a tool wrapped by
 * `gateTools` it answers from signoff: allowed → `not-applicable` (runs),
 * approved by reviewers → `approved`, denied → `denied` with the deny text,
 * waiting for reviewers → `user-approval` (the run pauses with a
 * `tool-approval-request`). When the run comes back with the client's
 * `tool-approval-response`, the SDK asks again: only signoff's resolution
 * counts, so an approval signoff has not granted (or one for other args)
 * is denied and the tool does not run. Tools not wrapped by `gateTools`
 * are `not-applicable`.
 */
async function toolApproval({ toolCall, tools, messages }) {
  const tool = tools && toolCall && Object.prototype.hasOwnProperty.call(tools, toolCall.toolName) ? tools[toolCall.toolName] : null
  const marker = tool ? tool[GUARD] : undefined
  if (!marker) return 'not-applicable'
  const { guard, name } = marker
  try {
    const call = hostCall(name, toolCall.input, { toolCallId: toolCall.toolCallId })
    const decision = await guard.decide(call, { wait: false })
    if (decision.denied) return denied(guard, decision.denied)
    if (decision.permit) {
      guard.hand(decision.action, { permit: decision.permit, action: decision.action })
      return decision.permit.requestId ? { type: 'approved', reason: `signoff: approved by ${decision.permit.approvedBy.join(', ')}` } : 'not-applicable'
    }
    if (answered(messages, toolCall.toolCallId)) return denied(guard, notApproved(decision.pending))
    return { type: 'user-approval', reason: await pendingReason(guard, decision.pending) }
  } catch (err) {
    return denied(guard, err)
  }
}

module.exports = { gateTools, toolApproval }
