'use strict'
/**
 * signoff for Node: action-level approvals for AI agents.
 *
 * A thin layer over the Rust core (`binding.js`): it validates JavaScript
 * values into exact JSON (naming the field path of anything that is not),
 * maps errors to `SignoffError` subclasses with a `code`, and adapts
 * approvers, sinks and `guard`. Every decision is made by the core.
 */

const native = require('./binding.js')

const PREFIX = 'SIGNOFF_JSON:'
const MAX_DEPTH = 64

/** Base of every signoff error; `code` names the kind. */
class SignoffError extends Error {
  constructor(message, info = {}) {
    super(message)
    this.name = new.target.name
    this.code = info.code || 'SIGNOFF_ERROR'
    for (const key of ['rule', 'rules', 'reason', 'voter', 'comment', 'actionId', 'requestId', 'issues']) {
      if (key in info) this[key] = info[key]
    }
  }
}
class DeniedError extends SignoffError {}
class TimeoutError extends SignoffError {}
class CancelledError extends SignoffError {}
class PolicyError extends SignoffError {}
class AuditError extends SignoffError {}
class InvalidActionError extends SignoffError {}
class VoteRejectedError extends SignoffError {}
class ApproverError extends SignoffError {}
class StoreError extends SignoffError {}
class NotFoundError extends SignoffError {}
class NoApproverError extends SignoffError {}
class UsedError extends SignoffError {}

const CLASSES = {
  SIGNOFF_DENIED: DeniedError,
  SIGNOFF_TIMEOUT: TimeoutError,
  SIGNOFF_CANCELLED: CancelledError,
  SIGNOFF_POLICY: PolicyError,
  SIGNOFF_AUDIT: AuditError,
  SIGNOFF_INVALID_ACTION: InvalidActionError,
  SIGNOFF_VOTE_REJECTED: VoteRejectedError,
  SIGNOFF_APPROVER: ApproverError,
  SIGNOFF_STORE: StoreError,
  SIGNOFF_NOT_FOUND: NotFoundError,
  SIGNOFF_NO_APPROVER: NoApproverError,
  SIGNOFF_USED: UsedError,
}

/** Turns a native error into its SignoffError subclass. */
function translate(err) {
  if (err && typeof err.message === 'string' && err.message.startsWith(PREFIX)) {
    let info
    try {
      info = JSON.parse(err.message.slice(PREFIX.length))
    } catch {
      return err
    }
    const Class = CLASSES[info.code] || SignoffError
    return new Class(info.message, info)
  }
  return err
}

async function call(promise) {
  try {
    return await promise
  } catch (err) {
    throw translate(err)
  }
}

function sync(fn) {
  try {
    return fn()
  } catch (err) {
    throw translate(err)
  }
}

/** Converts a JS value to exact JSON, or throws a TypeError naming the path. */
function toJson(value, path, seen = new Set(), depth = 0) {
  if (depth > MAX_DEPTH) throw new TypeError(`\`${path}\` nests deeper than ${MAX_DEPTH} levels`)
  if (value === null) return null
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`\`${path}\` is ${value}, which JSON cannot hold`)
      return value
    case 'bigint':
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new TypeError(`\`${path}\` is a BigInt beyond 2^53, which JSON numbers cannot hold exactly`)
      }
      return Number(value)
    case 'undefined':
      throw new TypeError(`\`${path}\` is undefined (use null, or leave the field out)`)
    case 'function':
      throw new TypeError(`\`${path}\` is a function, which is not JSON`)
    case 'symbol':
      throw new TypeError(`\`${path}\` is a symbol, which is not JSON`)
    default:
      break
  }
  if (seen.has(value)) throw new TypeError(`\`${path}\` refers back to itself (a cycle)`)
  seen.add(value)
  try {
    if (Array.isArray(value)) {
      return value.map((item, i) => toJson(item, `${path}[${i}]`, seen, depth + 1))
    }
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value.constructor && value.constructor.name) || 'object'
      throw new TypeError(`\`${path}\` is a ${kind}, which is not plain JSON (use objects, arrays, strings, numbers, booleans or null)`)
    }
    const out = {}
    for (const key of Object.keys(value)) {
      out[key] = toJson(value[key], `${path}.${key}`, seen, depth + 1)
    }
    return out
  } finally {
    seen.delete(value)
  }
}

/**
 * Checks a value is exact JSON without copying it; returns true when it
 * holds a BigInt (which `toJson` must convert). Throws like `toJson`.
 */
function checkJson(value, path, seen, depth) {
  if (depth > MAX_DEPTH) throw new TypeError(`\`${path}\` nests deeper than ${MAX_DEPTH} levels`)
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return false
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`\`${path}\` is ${value}, which JSON cannot hold`)
      return false
    case 'object':
      break
    default:
      // bigint (converted by toJson, or refused there), undefined, function, symbol
      if (typeof value === 'bigint') return true
      toJson(value, path)
      return false
  }
  if (value === null) return false
  if (seen.has(value)) throw new TypeError(`\`${path}\` refers back to itself (a cycle)`)
  seen.add(value)
  let bigint = false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) bigint = checkJson(value[i], `${path}[${i}]`, seen, depth + 1) || bigint
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value.constructor && value.constructor.name) || 'object'
      throw new TypeError(`\`${path}\` is a ${kind}, which is not plain JSON (use objects, arrays, strings, numbers, booleans or null)`)
    }
    for (const key in value) {
      if (Object.prototype.hasOwnProperty.call(value, key)) {
        bigint = checkJson(value[key], `${path}.${key}`, seen, depth + 1) || bigint
      }
    }
  }
  seen.delete(value)
  return bigint
}

/**
 * The common case of `checkJson`, without building field paths: 0 when the
 * value is exact JSON, 1 when it also holds a BigInt, -1 for anything else
 * (then `checkJson` runs and names the path).
 */
function quickJson(value, depth) {
  if (depth > MAX_DEPTH) return -1
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return 0
    case 'number':
      return Number.isFinite(value) ? 0 : -1
    case 'bigint':
      return 1
    case 'object':
      break
    default:
      return -1
  }
  if (value === null) return 0
  let bigint = 0
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const r = quickJson(value[i], depth + 1)
      if (r < 0) return r
      bigint |= r
    }
    return bigint
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return -1
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key)) {
      const r = quickJson(value[key], depth + 1)
      if (r < 0) return r
      bigint |= r
    }
  }
  return bigint
}

/** Exact JSON of an args/context object: checked in place, copied only for BigInts. */
function jsonObject(value, path) {
  if (quickJson(value, 0) === 0) return value
  return checkJson(value, path, new Set(), 0) ? toJson(value, path) : value
}

const ACTION_FIELDS = {
  name: 'name',
  actor: 'actor',
  onBehalfOf: 'on_behalf_of',
  resource: 'resource',
  env: 'env',
  args: 'args',
  justification: 'justification',
  context: 'context',
  id: 'id',
}

/** Validates an action object and returns its JSON text for the core. */
function actionJson(action) {
  if (action === null || typeof action !== 'object' || Array.isArray(action)) {
    throw new TypeError('the action must be an object like { name, actor, args }')
  }
  const out = {}
  for (const [key, value] of Object.entries(action)) {
    const field = ACTION_FIELDS[key]
    if (!field) {
      throw new TypeError(`unknown action field \`${key}\` (known: ${Object.keys(ACTION_FIELDS).join(', ')})`)
    }
    if (value === undefined || value === null) continue
    if (key === 'args' || key === 'context') {
      if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`\`${key}\` must be an object`)
      out[field] = jsonObject(value, key)
    } else if (typeof value !== 'string') {
      throw new TypeError(`\`${key}\` must be a string`)
    } else {
      out[field] = value
    }
  }
  if (typeof out.name !== 'string') throw new TypeError('the action needs a `name` string')
  return JSON.stringify(out)
}

function approval(a) {
  if (!a) return null
  return {
    requirements: a.requirements,
    timeout: a.timeout,
    onTimeout: a.on_timeout,
    allowEdit: a.allow_edit,
    redact: a.redact,
    risk: a.risk ?? null,
  }
}

function decision(json) {
  const d = JSON.parse(json)
  return {
    effect: d.effect,
    rules: d.rules,
    reason: d.reason,
    approval: approval(d.approval),
    policyDigest: d.policy_digest,
    errors: d.errors || [],
    trace: d.trace || null,
  }
}

/** A validated, immutable policy. */
class Policy {
  constructor(inner) {
    this._native = inner
  }
  static fromToml(text) {
    return new Policy(sync(() => native.NativePolicy.fromToml(text)))
  }
  static fromJson(text) {
    return new Policy(sync(() => native.NativePolicy.fromJson(typeof text === 'string' ? text : JSON.stringify(text))))
  }
  static fromFile(path) {
    return new Policy(sync(() => native.NativePolicy.fromFile(String(path))))
  }
  get name() {
    return this._native.name
  }
  get digest() {
    return this._native.digest
  }
  get rules() {
    return this._native.rules
  }
  /** Decides an action; `options.now` (RFC 3339) sets the time conditions see. */
  evaluate(action, options = {}) {
    if (options.now == null && action !== null && typeof action === 'object' && !Array.isArray(action)) {
      return sync(() => this._evaluateFields(action))
    }
    return decision(sync(() => this._native.evaluate(actionJson(action), options.now ?? null, false)))
  }
  /** The common path: fields passed one by one, no action object to build; returns the decision object. */
  _evaluateFields(action) {
    let name, actor, onBehalfOf, resource, env, args, context, justification
    for (const key in action) {
      const value = action[key]
      if (value === undefined || value === null) continue
      switch (key) {
        case 'name': name = value; break
        case 'actor': actor = value; break
        case 'onBehalfOf': onBehalfOf = value; break
        case 'resource': resource = value; break
        case 'env': env = value; break
        case 'justification': justification = value; break
        case 'id': break
        case 'args':
        case 'context':
          if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`\`${key}\` must be an object`)
          if (key === 'args') args = JSON.stringify(jsonObject(value, 'args'))
          else context = JSON.stringify(jsonObject(value, 'context'))
          continue
        default:
          throw new TypeError(`unknown action field \`${key}\` (known: ${Object.keys(ACTION_FIELDS).join(', ')})`)
      }
      if (typeof value !== 'string') throw new TypeError(`\`${key}\` must be a string`)
    }
    if (typeof name !== 'string') throw new TypeError('the action needs a `name` string')
    const out = this._native.evaluateCode(name, actor, onBehalfOf, resource, env, args, context, justification)
    if (typeof out !== 'number') return decision(out)
    // a lean allow/deny (one rule or the default): the same decision every time
    const codes = this._codes || (this._codes = [])
    let d = codes[out]
    if (d === undefined) {
      d = decision(this._native.evaluateFields(name, actor, onBehalfOf, resource, env, args, context, justification))
      codes[out] = d
    }
    return {
      effect: d.effect,
      rules: d.rules.slice(),
      reason: d.reason,
      approval: null,
      policyDigest: d.policyDigest,
      errors: [],
      trace: null,
    }
  }
  /**
   * Runs TOML policy test files (`[[test]]` cases) against this policy:
   * `{ ok, passed, failed, results, coverage, uncovered, text }`. A file that
   * does not load throws PolicyError (file, line and column in `issues`).
   */
  test(...paths) {
    const files = paths.flat()
    if (files.length === 0) throw new TypeError('policy.test(path, ...) needs at least one test file')
    for (const p of files) if (typeof p !== 'string') throw new TypeError('test file paths must be strings')
    return JSON.parse(sync(() => this._native.test(files)))
  }
  /** Like evaluate, with `trace`: every rule and why it did or did not match. */
  explain(action, options = {}) {
    return decision(sync(() => this._native.evaluate(actionJson(action), options.now ?? null, true)))
  }
}

/** Permission to run one action, used once. */
class Permit {
  constructor(inner, inline = false) {
    this._native = inner
    this._inline = inline
    const info = JSON.parse(inner.info)
    this.actionId = info.actionId
    this.requestId = info.requestId
    this.name = info.name
    this.args = info.args
    this.argsDigest = info.argsDigest
    this.actionDigest = info.actionDigest
    this.approvedBy = info.approvedBy
    this.expiresAt = info.expiresAt
  }
  /** Whether the permit has expired; an expired permit cannot complete. */
  get expired() {
    return Date.now() >= Date.parse(this.expiresAt)
  }
  /** Records the outcome in the trail; the permit is used up. */
  complete(outcome = {}) {
    const ok = outcome.ok !== false
    const detail = outcome.detail == null ? null : String(outcome.detail)
    if (this._inline) {
      try {
        return Promise.resolve(this._native.completeNow(ok, detail))
      } catch (err) {
        return Promise.reject(translate(err))
      }
    }
    return call(this._native.complete(ok, detail))
  }
}

function voteJson(vote) {
  const out = {
    voter: vote.voter,
    verdict: vote.verdict || 'approve',
    channel: vote.channel || 'node',
  }
  if (typeof out.voter !== 'string') throw new TypeError('a vote needs a `voter` string')
  if (out.verdict !== 'approve' && out.verdict !== 'deny') {
    throw new TypeError(`verdict must be "approve" or "deny", not ${JSON.stringify(out.verdict)}`)
  }
  if (vote.comment != null) out.comment = String(vote.comment)
  if (vote.args != null) out.args = jsonObject(vote.args, 'args')
  if (vote.argsDigest != null) out.args_digest = vote.argsDigest
  // a grant length such as '30m', and break-glass (DESIGN §13)
  if (vote.grant != null) {
    if (typeof vote.grant !== 'string') throw new TypeError('`grant` must be a duration string such as "30m"')
    out.grant = vote.grant
  }
  if (vote.breakGlass != null) {
    if (typeof vote.breakGlass !== 'boolean') throw new TypeError('`breakGlass` must be a boolean')
    if (vote.breakGlass) out.break_glass = true
  }
  return JSON.stringify(out)
}

/** The gate: `require` an action, get a Permit or a SignoffError. */
class Gate {
  constructor(options = {}) {
    const {
      policy, audit, approver, durability, stream, permitTtlMs, store, checkpointKeyFile, checkpointKeyEnv,
      actor, onBehalfOf, env, context, redactKeyFile, redactKeyEnv, shadow,
    } = options
    if (!(policy instanceof Policy)) throw new TypeError('new Gate({ policy }) needs a Policy')
    if (shadow != null && !(shadow instanceof Policy)) throw new TypeError('`shadow` must be a Policy')
    let approverKind = null
    let dispatch = null
    if (approver === 'queue' || approver === 'terminal') {
      approverKind = approver
    } else if (approver != null) {
      if (typeof approver.review !== 'function') {
        throw new TypeError('approver must be "queue", "terminal" or an object with review(request)')
      }
      approverKind = 'js'
      dispatch = (json) => this._review(approver, JSON.parse(json))
    }
    for (const [name, value] of Object.entries({
      checkpointKeyFile, checkpointKeyEnv, actor, onBehalfOf, env, redactKeyFile, redactKeyEnv,
    })) {
      if (value != null && typeof value !== 'string') throw new TypeError(`\`${name}\` must be a string`)
    }
    if (context != null && (typeof context !== 'object' || Array.isArray(context))) {
      throw new TypeError('`context` must be an object')
    }
    let auditPath = null
    let sink = null
    if (typeof audit === 'string') {
      auditPath = audit
    } else if (audit != null) {
      if (typeof audit.append !== 'function') throw new TypeError('audit must be a path or an object with append(lines)')
      sink = (lines) => Promise.resolve().then(() => audit.append(lines))
    }
    // Writes that never block for long (os-buffered, or no file) may run on
    // this thread, skipping two thread hops; a JS sink must not (it needs
    // this thread), and fsync modes must not stall the event loop.
    const fileSink = auditPath !== null && !/^(sqlite:|postgres(ql)?:\/\/)/.test(auditPath)
    const database = (auditPath !== null && !fileSink) || (store != null && store !== 'memory')
    this._inline = sink === null && !database && (!fileSink || durability === 'os-buffered')
    this._native = sync(
      () =>
        new native.NativeGate(
          policy._native,
          JSON.stringify({
            audit: auditPath,
            durability,
            stream,
            approver: approverKind,
            permitTtlMs,
            store: store ?? null,
            checkpointKeyFile: checkpointKeyFile ?? null,
            checkpointKeyEnv: checkpointKeyEnv ?? null,
            actor: actor ?? null,
            onBehalfOf: onBehalfOf ?? null,
            env: env ?? null,
            context: context == null ? null : jsonObject(context, 'context'),
            redactKeyFile: redactKeyFile ?? null,
            redactKeyEnv: redactKeyEnv ?? null,
          }),
          dispatch,
          sink,
        ),
    )
    if (shadow != null) this._native.setShadow(shadow._native)
  }

  /**
   * A gate built from a gate config file (the one `signoff serve --config`
   * reads): policy, store, audit, `[identity]`, channels and `approver`.
   */
  static fromConfig(path) {
    if (typeof path !== 'string') throw new TypeError('Gate.fromConfig(path) needs a file path')
    const gate = Object.create(Gate.prototype)
    gate._inline = false
    gate._native = sync(() => native.NativeGate.fromConfig(path))
    return gate
  }

  /** What `require` would decide now, the gate's defaults filled in; records nothing. */
  evaluate(action) {
    return decision(sync(() => this._native.evaluate(actionJson(action))))
  }

  async _review(approver, request) {
    try {
      let votes = await approver.review(request)
      if (votes == null) return
      if (!Array.isArray(votes)) votes = [votes]
      for (const vote of votes) {
        try {
          await this.vote(request.id, vote)
        } catch (err) {
          if (!(err instanceof VoteRejectedError)) throw err
        }
      }
    } catch (err) {
      const message = err && err.stack ? String(err.stack) : String(err)
      await call(this._native.failRequest(request.id, message)).catch(() => {})
    }
  }

  get policy() {
    return new Policy(this._native.policy)
  }
  setPolicy(policy) {
    this._native.setPolicy(policy._native)
  }
  /** Decides whether the action may run now, waiting for reviewers where the policy asks. */
  async require(action) {
    const json = actionJson(action)
    if (this._inline) {
      const out = sync(() => this._native.submitNow(json))
      if (typeof out !== 'string') return new Permit(out, true)
      return new Permit(await call(this._native.resume(out)), true)
    }
    return new Permit(await call(this._native.require(json)))
  }
  /** Decides at once: `{ permit }` or `{ pending: requestId }`; denial throws. */
  async submit(action) {
    const json = actionJson(action)
    if (this._inline) {
      const out = sync(() => this._native.submitNow(json))
      return typeof out === 'string' ? { pending: out } : { permit: new Permit(out, true) }
    }
    const out = await call(this._native.submit(json))
    return typeof out === 'string' ? { pending: out } : { permit: new Permit(out) }
  }
  /** Cancels a pending request (its waiters reject with `SIGNOFF_CANCELLED`). */
  cancel(requestId, reason = 'cancelled by the caller') {
    return call(this._native.cancel(requestId, String(reason)))
  }
  /** Waits for a submitted request's resolution. */
  async resume(requestId) {
    return new Permit(await call(this._native.resume(requestId)))
  }
  /** Casts a vote; resolves to the request's status after it. */
  vote(requestId, vote) {
    return call(this._native.vote(requestId, voteJson(vote)))
  }
  async pending() {
    return JSON.parse(await call(this._native.pending()))
  }
  async request(requestId) {
    return JSON.parse(await call(this._native.request(requestId)))
  }
  /**
   * Wraps `fn` so every call is required first. By default the action's
   * args are `{ args: [...callArguments] }` (or `options.args(...call)`),
   * and `fn` runs with the approved call arguments; other options may be
   * values or functions of the call's arguments.
   */
  guard(name, fn, options = {}) {
    const resolve = (v, a) => (typeof v === 'function' ? v(...a) : v)
    const gate = this
    return async function guarded(...callArgs) {
      const custom = options.args != null
      const args = custom ? resolve(options.args, callArgs) : { args: callArgs }
      const permit = await gate.require({
        name,
        actor: resolve(options.actor, callArgs),
        onBehalfOf: resolve(options.onBehalfOf, callArgs),
        resource: resolve(options.resource, callArgs),
        env: resolve(options.env, callArgs),
        justification: resolve(options.justification, callArgs),
        context: resolve(options.context, callArgs),
        args,
      })
      const approved = custom ? callArgs : permit.args.args
      let result
      try {
        result = await fn.apply(this, approved)
      } catch (err) {
        await permit.complete({ ok: false, detail: err && err.stack ? String(err.stack) : String(err) })
        throw err
      }
      await permit.complete({ ok: true })
      return result
    }
  }
  /** Cancels pending requests (their waiters reject) and writes out the trail. */
  close() {
    return call(this._native.close())
  }
}

module.exports = {
  Policy,
  Gate,
  Permit,
  SignoffError,
  DeniedError,
  TimeoutError,
  CancelledError,
  PolicyError,
  AuditError,
  InvalidActionError,
  VoteRejectedError,
  ApproverError,
  StoreError,
  NotFoundError,
  NoApproverError,
  UsedError,
  toJson,
}
