'use strict'
/**
 * signoff for OpenAI Agents JS (`@openai/agents`).
 *
 * - Blocking: `gateTool(definition, gate)` builds the SDK tool with a
 *   signoff input guardrail (the call waits for reviewers there; a denial
 *   reaches the model through `rejectContent`) and an `execute` that runs
 *   with the permitted, possibly edited, input and completes the permit.
 *   `signoffGuardrail(gate)` is the guardrail on its own, for tools you
 *   build yourself.
 * - Durable (`durable: true`): `needsApproval` asks signoff without
 *   waiting, so a call that needs reviewers becomes an interruption; the
 *   run state is serialized (`state.toString()`) and, in any process,
 *   `resolveApprovals(state)` approves or rejects each interruption from
 *   signoff's resolution. The SDK calls `needsApproval` again after a
 *   restore; the same call maps to the same signoff request, so no second
 *   request is made, and the tool runs only with a permit issued here: an
 *   approval set on the state by hand is not enough.
 *
 * `build` takes the framework's functions so the CommonJS and ESM entries
 * each use the framework build their user imports.
 */

const { Guard, denyText, notApproved, unused, plainObject } = require('../contract.js')

/** Marks a tool built by `gateTool` with what decides its calls. */
const GUARD = Symbol.for('signoff.openai-agents.guard')

/** The parsed arguments, normalized by the tool's schema when it is a Standard Schema (zod 4, ...). */
async function parseArguments(schema, raw) {
  const value = typeof raw === 'string' ? JSON.parse(raw) : raw
  const standard = schema && schema['~standard']
  if (!standard || typeof standard.validate !== 'function') return value
  const result = await standard.validate(value)
  if (result.issues) throw new TypeError(`the tool's arguments do not match its schema: ${result.issues.map((i) => i.message).join('; ')}`)
  return result.value
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b)
}

function build(framework, from) {
  const { tool, defineToolInputGuardrail, ToolGuardrailFunctionOutputFactory: Output } = framework
  for (const [name, value] of Object.entries({ tool, defineToolInputGuardrail, Output })) {
    if (value == null) throw new Error(`\`signoff/openai-agents\`: \`${from}\` has no \`${name}\`; this version of @openai/agents is not supported`)
  }

  function reject(guard, err) {
    const text = denyText(err)
    if (guard.onDeny === 'throw') return Output.throwException({ signoff: text, code: err && err.code, rule: err && err.rule })
    return Output.rejectContent(text)
  }

  /**
   * The guardrail: decides the call (waiting for reviewers unless durable).
   * With `handoff`, an allowed call's permit goes to the tool's `execute`;
   * without it (a tool you built), the guardrail completes the permit when
   * it lets the call through and refuses an approval whose args a reviewer
   * edited, since it cannot change what the tool runs with.
   */
  function guardrail(guard, { handoff, durable, schema }) {
    return defineToolInputGuardrail({
      name: 'signoff',
      run: async ({ context, agent, toolCall }) => {
        let args
        try {
          args = await parseArguments(schema, toolCall.arguments)
        } catch (err) {
          return reject(guard, err)
        }
        const call = { tool: toolCall.name, args, callId: toolCall.callId, info: { runContext: context, agent, toolCall } }
        const decision = await guard.decide(call, { wait: !durable })
        if (!decision.permit) return reject(guard, decision.denied || notApproved(decision.pending))
        if (handoff) {
          guard.hand(decision.action, { permit: decision.permit, action: decision.action })
          return Output.allow()
        }
        if (!sameJson(decision.permit.args, args)) {
          unused(decision.permit, 'a reviewer edited the arguments and a bare guardrail cannot apply edits')
          return reject(guard, new TypeError('a reviewer edited the arguments; build the tool with gateTool so the edit is what runs'))
        }
        try {
          await decision.permit.complete({ ok: true, detail: 'let through by the guardrail; the outcome is not tracked (use gateTool)' })
        } catch (err) {
          return reject(guard, err)
        }
        return Output.allow()
      },
    })
  }

  /** A blocking signoff input guardrail for a tool you build yourself (prefer `gateTool`). */
  function signoffGuardrail(gate, options) {
    return guardrail(new Guard(gate, options, 'openai-agents', { name: 'signoffGuardrail' }), { handoff: false, durable: false })
  }

  /**
   * Builds the SDK tool from `definition` (what you would pass to `tool()`)
   * with signoff in front of it. Options: the adapter options, and
   * `durable` (needsApproval + RunState instead of waiting).
   */
  function gateTool(definition, gate, options = {}) {
    if (!plainObject(definition) || typeof definition.name !== 'string' || typeof definition.execute !== 'function') {
      throw new TypeError('gateTool(definition, gate, options): `definition` must be tool() options with a `name` and an `execute`')
    }
    if (definition.needsApproval != null && options && options.durable) {
      throw new TypeError(`gateTool: tool \`${definition.name}\` has its own needsApproval; in durable mode signoff decides approvals`)
    }
    const { durable = false, ...adapterOptions } = options || {}
    if (typeof durable !== 'boolean') throw new TypeError('gateTool: `durable` must be a boolean')
    const guard = new Guard(gate, adapterOptions, 'openai-agents', { name: 'gateTool' })
    const schema = definition.parameters
    const name = definition.name
    const execute = definition.execute
    // a wait inside execute counts against the tool's own timeout: stay under it
    const executeTimeoutMs = typeof definition.timeoutMs === 'number' && definition.timeoutMs > 0
      ? Math.min(guard.timeoutMs, Math.max(1, definition.timeoutMs - 50))
      : guard.timeoutMs

    const wrapped = {
      ...definition,
      inputGuardrails: [guardrail(guard, { handoff: true, durable, schema }), ...(definition.inputGuardrails || [])],
      async execute(input, runContext, details) {
        const callId = details && details.toolCall ? details.toolCall.callId : undefined
        const call = { tool: name, args: input, callId, signal: details && details.signal, info: { runContext, details } }
        const decision = await guard.decide(call, { wait: !durable, timeoutMs: executeTimeoutMs })
        if (!decision.permit) return guard.refuse(decision.denied || notApproved(decision.pending))
        return guard.run(decision.permit, (args) => execute.call(this, args, runContext, details))
      },
    }
    if (durable) {
      wrapped.needsApproval = async (runContext, input, callId) => {
        const call = { tool: name, args: input, callId, info: { runContext } }
        let action
        try {
          action = guard.action(call)
        } catch {
          return false // the guardrail denies the same call for the same reason
        }
        if (guard.peek(action)) return false
        const decision = await guard.decide(call, { wait: false })
        if (decision.pending) return true
        // decided now: allowed, approved or denied; the guardrail takes it from here
        guard.hand(action, decision.permit ? { permit: decision.permit, action } : { denied: decision.denied })
        return false
      }
    }
    const built = tool(wrapped)
    Object.defineProperty(built, GUARD, { value: { guard, name, schema } })
    return built
  }

  /**
   * Approves or rejects each interruption of a (restored) run state that
   * belongs to a `gateTool` tool, from signoff's resolution: approved →
   * `state.approve` (the permit waits for the tool in this process),
   * denied, expired or failed → `state.reject` with the deny text, still
   * waiting → left as it is (or waited for, with `wait: true`, up to the
   * adapter's `timeoutMs`). Other interruptions are left alone.
   * Resolves to the call ids in each group.
   */
  async function resolveApprovals(state, { wait = false } = {}) {
    if (!state || typeof state.getInterruptions !== 'function') {
      throw new TypeError('resolveApprovals(state): `state` must be a RunState (RunState.fromString, or result.state)')
    }
    const out = { approved: [], rejected: [], pending: [] }
    for (const item of state.getInterruptions()) {
      const agentTools = item && item.agent && Array.isArray(item.agent.tools) ? item.agent.tools : []
      const found = agentTools.find((t) => t && t.name === item.name && t[GUARD])
      if (!found) continue
      const { guard, name, schema } = found[GUARD]
      const callId = item.rawItem && item.rawItem.callId
      let decision
      try {
        const args = await parseArguments(schema, item.rawItem && item.rawItem.arguments)
        decision = await guard.decide({ tool: name, args, callId, info: { runContext: state._context } }, { wait })
      } catch (err) {
        decision = { denied: err }
      }
      if (decision.permit) {
        guard.hand(decision.action, { permit: decision.permit, action: decision.action })
        state.approve(item)
        out.approved.push(callId)
      } else if (decision.pending) {
        out.pending.push({ callId, requestId: decision.pending })
      } else {
        state.reject(item, { message: denyText(decision.denied) })
        out.rejected.push(callId)
      }
    }
    return out
  }

  return { gateTool, signoffGuardrail, resolveApprovals }
}

module.exports = { build }
