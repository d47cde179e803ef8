'use strict'
/**
 * The one contract every Node framework adapter follows (DESIGN.md §11):
 * tool name → action name, an action id keyed on the host's call id, the
 * deny text the model sees, a deadline on every wait, and a denial for any
 * error inside signoff. The adapters (`signoff/ai`, `signoff/openai-agents`,
 * `signoff/langchain`) only translate their host's hook into `Guard` calls.
 */

const signoff = require('../index.js')

const { Gate, SignoffError, DeniedError, TimeoutError, CancelledError, toJson } = signoff

/** How long a blocking wait may last when `timeoutMs` is not given. */
const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000 // as the Python adapters' `deadline`
/** Decisions handed from one hook to the next (say `toolApproval` to `execute`) that nobody took. */
const MAX_HANDOFFS = 1024

const OPTION_KEYS = new Set(['prefix', 'names', 'session', 'context', 'timeoutMs', 'onDeny'])

/** Thrown at import when the framework an adapter plugs into is not installed. */
function missingFramework(subpath, pkg, cause) {
  const err = new Error(
    `\`signoff/${subpath}\` needs the \`${pkg}\` package, which is not installed: run \`npm install ${pkg}\``,
  )
  err.code = 'SIGNOFF_MISSING_FRAMEWORK'
  err.package = pkg
  if (cause) err.cause = cause
  return err
}

/** True when `err` means `pkg` itself (not one of its own imports) could not be found. */
function isMissing(err, pkg) {
  if (!err || (err.code !== 'MODULE_NOT_FOUND' && err.code !== 'ERR_MODULE_NOT_FOUND')) return false
  const message = String(err.message)
  return message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`) || message.includes(`'${pkg}/`)
}

/** A short label for an error without a rule: `SIGNOFF_ID_REUSED` → `id reused`. */
function label(err) {
  const code = err && typeof err.code === 'string' && err.code.startsWith('SIGNOFF_') ? err.code : null
  if (!code || code === 'SIGNOFF_ERROR') return 'error'
  if (code === 'SIGNOFF_DENIED') return 'default' // denied without a rule: the policy's default
  return code.slice('SIGNOFF_'.length).toLowerCase().replace(/_/g, ' ')
}

/** What a denial says: `signoff: denied (rule <id>): <reason>`. */
function denyText(err) {
  let reason
  if (err instanceof SignoffError) {
    reason = err.reason || err.message
    if (err.comment) reason = `${reason} — "${err.comment}"`
  } else {
    reason = err && err.message ? err.message : String(err)
  }
  const rule = err && typeof err.rule === 'string' && err.rule ? err.rule : null
  return rule ? `signoff: denied (rule ${rule}): ${reason}` : `signoff: denied (${label(err)}): ${reason}`
}

function plainObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function checkOptions(options, where) {
  if (options == null) return {}
  if (typeof options !== 'object') throw new TypeError(`${where.name}: options must be an object`)
  const extra = where.extraKeys || []
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key) && !extra.includes(key)) {
      throw new TypeError(`${where.name}: unknown option \`${key}\` (known: ${[...OPTION_KEYS, ...extra].join(', ')})`)
    }
  }
  const { prefix, names, session, context, timeoutMs, onDeny } = options
  if (prefix != null && typeof prefix !== 'string') throw new TypeError(`${where.name}: \`prefix\` must be a string`)
  if (names != null && typeof names !== 'function' && !plainObject(names)) {
    throw new TypeError(`${where.name}: \`names\` must map tool names to action names (an object or a function)`)
  }
  if (session != null && typeof session !== 'string' && typeof session !== 'function') {
    throw new TypeError(`${where.name}: \`session\` must be a string or a function`)
  }
  if (context != null && typeof context !== 'function' && !plainObject(context)) {
    throw new TypeError(`${where.name}: \`context\` must be an object or a function`)
  }
  if (timeoutMs != null && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new TypeError(`${where.name}: \`timeoutMs\` must be a positive number of milliseconds`)
  }
  if (onDeny != null && onDeny !== 'result' && onDeny !== 'throw') {
    throw new TypeError(`${where.name}: \`onDeny\` must be "result" or "throw"`)
  }
  return options
}

/** Handoffs per gate: what one hook decided for a call, for the next hook of the same call. */
const handoffsByGate = new WeakMap()

function handoffs(gate) {
  let map = handoffsByGate.get(gate)
  if (!map) {
    map = new Map()
    handoffsByGate.set(gate, map)
  }
  return map
}

/** Completes a permit that will never run its action, so the trail says so. */
function unused(permit, why) {
  if (permit) permit.complete({ ok: false, detail: `not run: ${why}` }).catch(() => {})
}

const NOT_YET = Symbol('not yet')
const notYet = Promise.resolve(NOT_YET)

/**
 * Resolves to `promise`'s value, or rejects with a TimeoutError after `ms`
 * (or when `signal` aborts). A permit that arrives too late is completed as
 * not run. An answer that is already there (an allow on the in-process
 * path) needs no timer.
 */
async function within(promise, ms, signal, what) {
  const late = (value) => {
    if (value && value.permit) unused(value.permit, 'it arrived after the adapter gave up waiting')
    else if (value && typeof value.complete === 'function') unused(value, 'it arrived after the adapter gave up waiting')
  }
  const aborted = () => new CancelledError('the host aborted the call', { code: 'SIGNOFF_CANCELLED', reason: 'the host aborted the call' })
  if (signal && signal.aborted) {
    promise.then(late, () => {})
    throw aborted()
  }
  const first = await Promise.race([promise, notYet])
  if (first !== NOT_YET) return first
  let timer
  let onAbort
  const bounded = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      promise.then(late, () => {})
      reject(new TimeoutError(`no decision within ${ms} ms (${what})`, { code: 'SIGNOFF_TIMEOUT', reason: `no decision within ${ms} ms` }))
    }, ms)
    if (signal) {
      onAbort = () => {
        promise.then(late, () => {})
        reject(aborted())
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
    promise.then(resolve, reject)
  })
  try {
    return await bounded
  } finally {
    clearTimeout(timer)
    if (signal && onAbort) signal.removeEventListener('abort', onAbort)
  }
}

function errorDetail(err) {
  const text = err && err.stack ? String(err.stack) : String(err)
  return text.length > 2000 ? text.slice(0, 2000) : text
}

/**
 * One adapter's view of a gate: maps a host's tool call to a signoff
 * action and decides it, failing closed.
 *
 * A call is `{ tool, args, callId, session?, context?, justification?,
 * signal?, info }`: `session` is the host's own namespace (a thread id),
 * `info` what the host's hook saw (given to the `session` and `context`
 * option functions).
 */
class Guard {
  constructor(gate, options, framework, where = { name: framework }) {
    if (!(gate instanceof Gate)) throw new TypeError(`${where.name}: the second argument must be a signoff Gate`)
    this.gate = gate
    this.framework = framework
    this.options = checkOptions(options, where)
    this.timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.onDeny = this.options.onDeny ?? 'result'
    this.handoffs = handoffs(gate)
  }

  /** The action name of a tool: `names[tool]` or `names(tool)`, else `prefix + tool`. */
  actionName(tool) {
    const { names, prefix } = this.options
    let name
    if (typeof names === 'function') name = names(tool)
    else if (names != null && Object.prototype.hasOwnProperty.call(names, tool)) name = names[tool]
    if (name == null) name = `${prefix ?? ''}${tool}`
    if (typeof name !== 'string' || name === '') throw new TypeError(`the action name for tool \`${tool}\` must be a non-empty string`)
    return name
  }

  /** The namespace of action ids: the `session` option, else what the host names (a thread id). */
  session(call) {
    const { session } = this.options
    let value = typeof session === 'function' ? session(call.info) : session
    if (value == null || value === '') value = call.session
    return value == null || value === '' ? null : String(value)
  }

  /** `<framework>:[<session>:]<call id>`: the same call always maps to the same action. */
  actionId(call) {
    if (typeof call.callId !== 'string' || call.callId === '') return null
    const session = this.session(call)
    return session == null ? `${this.framework}:${call.callId}` : `${this.framework}:${session}:${call.callId}`
  }

  /** The signoff action for a host's tool call; throws (and so denies) on anything not JSON. */
  action(call) {
    if (!plainObject(call.args)) {
      throw new TypeError(`the input of tool \`${call.tool}\` is not a JSON object, so signoff cannot check it`)
    }
    const args = toJson(call.args, 'args')
    const id = this.actionId(call)
    const extra = typeof this.options.context === 'function' ? this.options.context(call.info) : this.options.context
    const context = { framework: this.framework, tool: call.tool }
    if (call.callId) context.toolCallId = call.callId
    const session = this.session(call)
    if (session != null) context.session = session
    Object.assign(context, call.context || {}, extra || {})
    const action = { name: this.actionName(call.tool), args, context: toJson(context, 'context') }
    if (id) action.id = id
    if (typeof call.justification === 'string' && call.justification.trim() !== '') {
      action.justification = call.justification.trim().slice(0, 4000)
    }
    return action
  }

  /**
   * Decides a call. `wait: true` blocks until reviewers decide (within the
   * deadline); `wait: false` answers at once with `{ pending }` for an
   * approval still open. Never throws: any error is `{ denied }`. A
   * decision an earlier hook handed over for the same action comes first.
   */
  async decide(call, { wait, timeoutMs = this.timeoutMs }) {
    let action
    try {
      action = this.action(call)
    } catch (err) {
      return { denied: err }
    }
    const taken = this.take(action)
    if (taken) return taken
    try {
      if (wait) {
        const permit = await within(this.gate.require(action), timeoutMs, call.signal, `tool \`${call.tool}\``)
        return { permit, action }
      }
      // what the policy says needs no reviewer goes the direct way (no thread hop on an in-process gate)
      let direct = false
      try {
        direct = this.gate.evaluate(action).effect !== 'approve'
      } catch {
        direct = false
      }
      const pending = direct ? this.gate.require(action).then((permit) => ({ permit })) : this.gate.submit(action)
      const out = await within(pending, timeoutMs, call.signal, `tool \`${call.tool}\``)
      return out.permit ? { permit: out.permit, action } : { pending: out.pending, action }
    } catch (err) {
      return { denied: err, action }
    }
  }

  /** Keeps a decision for the next hook of the same call (in this process). */
  hand(action, outcome) {
    if (!action.id) return
    const previous = this.handoffs.get(action.id)
    if (previous && previous.outcome.permit && previous.outcome.permit !== outcome.permit) {
      unused(previous.outcome.permit, 'replaced by a newer decision for the same call')
    }
    this.handoffs.delete(action.id)
    this.handoffs.set(action.id, { args: JSON.stringify(action.args), outcome })
    while (this.handoffs.size > MAX_HANDOFFS) {
      const [oldest, entry] = this.handoffs.entries().next().value
      this.handoffs.delete(oldest)
      unused(entry.outcome.permit, 'its call never reached the tool')
    }
  }

  /** A decision an earlier hook made for this very action (same id and args), if any. */
  take(action) {
    if (!action.id) return null
    const entry = this.handoffs.get(action.id)
    if (!entry) return null
    this.handoffs.delete(action.id)
    if (entry.args !== JSON.stringify(action.args)) {
      unused(entry.outcome.permit, 'the call came back with other arguments')
      return null
    }
    return entry.outcome
  }

  /** Looks at a handed-over decision without taking it. */
  peek(action) {
    const entry = action.id ? this.handoffs.get(action.id) : null
    return entry && entry.args === JSON.stringify(action.args) ? entry.outcome : null
  }

  /** The deny text, or a throw when `onDeny: 'throw'`. */
  refuse(err) {
    if (this.onDeny === 'throw') throw asSignoffError(err)
    return denyText(err)
  }

  /**
   * Runs the tool with the permit's args (the approved ones, edits
   * included) and completes the permit with its outcome. Async iterables
   * (streamed tool output) complete when they end.
   */
  async run(permit, fn, outcome = () => ({ ok: true })) {
    if (permit.expired) {
      unused(permit, 'the permit expired before the tool started')
      throw new TimeoutError(`the permit for \`${permit.name}\` expired before the tool started`, { code: 'SIGNOFF_PERMIT_EXPIRED' })
    }
    let result
    try {
      result = await fn(permit.args)
    } catch (err) {
      await permit.complete({ ok: false, detail: errorDetail(err) })
      throw err
    }
    if (result != null && typeof result[Symbol.asyncIterator] === 'function' && typeof result !== 'string') {
      return completeAfter(result, permit)
    }
    await permit.complete(outcome(result))
    return result
  }
}

async function* completeAfter(iterable, permit) {
  try {
    yield* iterable
  } catch (err) {
    await permit.complete({ ok: false, detail: errorDetail(err) })
    throw err
  }
  await permit.complete({ ok: true })
}

/** The error to throw for a denial: a SignoffError whose message is the deny text. */
function asSignoffError(err) {
  if (err instanceof SignoffError) {
    const out = new (err.constructor)(denyText(err), err)
    out.cause = err
    return out
  }
  const out = new SignoffError(denyText(err), { code: 'SIGNOFF_ERROR', reason: err && err.message ? err.message : String(err) })
  out.cause = err
  return out
}

/** The denial for a call the host says was approved but signoff has not. */
function notApproved(requestId) {
  return new DeniedError(`request \`${requestId}\` is not approved in signoff`, {
    code: 'SIGNOFF_NOT_APPROVED',
    reason: `request \`${requestId}\` is not approved in signoff`,
    requestId,
  })
}

module.exports = {
  Guard,
  denyText,
  missingFramework,
  isMissing,
  notApproved,
  unused,
  within,
  plainObject,
  DEFAULT_TIMEOUT_MS,
}
