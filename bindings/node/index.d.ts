// Types of the `signoff` package (the JavaScript layer over the native
// binding, whose generated types are in binding.d.ts).

/** JSON values, exactly: anything else is a TypeError naming its path. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** What an agent wants to do. `name` is required. */
export interface Action {
  name: string
  actor?: string
  onBehalfOf?: string
  resource?: string
  env?: string
  args?: { [key: string]: Json }
  justification?: string
  context?: { [key: string]: Json }
  /** Idempotency key; generated when absent. */
  id?: string
}

export type Effect = 'allow' | 'deny' | 'approve'
export type Verdict = 'approve' | 'deny'
export type Status = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'completed'
export type Risk = 'low' | 'medium' | 'high' | 'critical'

export interface Requirement {
  group: string
  min: number
  rule?: string
}

export interface ApprovalRequirements {
  requirements: Requirement[]
  timeout: string
  onTimeout: 'deny' | 'allow'
  allowEdit: boolean
  redact: string[]
  risk: Risk | null
}

export interface RuleTrace {
  rule: string
  effect: Effect
  matched: boolean
  detail: string
  error?: string
}

export interface Decision {
  effect: Effect
  rules: string[]
  reason: string
  approval: ApprovalRequirements | null
  policyDigest: string
  errors: { rule: string; message: string }[]
  /** Set by `explain`. */
  trace: RuleTrace[] | null
}

export declare class Policy {
  private constructor()
  static fromToml(text: string): Policy
  static fromJson(text: string | object): Policy
  static fromFile(path: string): Policy
  readonly name: string
  readonly digest: string
  readonly rules: string[]
  evaluate(action: Action, options?: { now?: string }): Decision
  explain(action: Action, options?: { now?: string }): Decision
  /**
   * Runs TOML policy test files (`[[test]]` cases, DESIGN §12) against this
   * policy. A file that does not load throws PolicyError.
   */
  test(...paths: Array<string | string[]>): PolicyTestReport
}

/** One case of a policy test file, as `policy.test` reports it. */
export interface PolicyTestResult {
  name: string
  file?: string
  line: number
  passed: boolean
  expect: Effect
  expect_rules?: string[]
  effect: Effect
  rules: string[]
  reason: string
  problems?: string[]
  trace?: Array<{ rule: string; effect: Effect; matched: boolean; detail: string; error?: string }>
}

/** What `policy.test` returns (the JSON of `signoff test --json`, plus `ok` and `text`). */
export interface PolicyTestReport {
  ok: boolean
  passed: number
  failed: number
  policy_digest: string
  results: PolicyTestResult[]
  coverage: Array<{ rule: string; effect: Effect; matched: number; decided: number }>
  /** Rule ids that decided no case. */
  uncovered: string[]
  /** The report as `signoff test --coverage` prints it. */
  text: string
}

export interface VoteSummary {
  voter: string
  verdict: Verdict
  comment?: string
  current: boolean
}

/** What a reviewer sees (redacted args). Field names follow the core's JSON. */
export interface ApprovalRequest {
  id: string
  action_id: string
  action: string
  actor: string | null
  on_behalf_of: string | null
  resource: string | null
  env: string | null
  args: { [key: string]: Json }
  justification: string | null
  context: { [key: string]: Json }
  args_digest: string
  rules: string[]
  reason: string
  risk: Risk | null
  requirements: Requirement[]
  allow_edit: boolean
  status: Status
  votes: VoteSummary[]
  created_at: string
  expires_at: string
}

export interface Vote {
  voter: string
  verdict?: Verdict
  comment?: string
  /** Edited args (only where the rule allows edits). */
  args?: { [key: string]: Json }
  /** The args digest the reviewer saw. */
  argsDigest?: string
  channel?: string
  /** A grant length (`'30m'`) up to the request's `max_grant`: later actions
   * the same rules send to approval, in their `grant_scope`, are permitted
   * without new votes for that long. */
  grant?: string
  /** Break-glass: a member of the policy's `break_glass` group resolves the
   * request alone; `comment` is the required reason. */
  breakGlass?: boolean
}

/** Presents requests to reviewers; returns votes, or votes later via gate.vote. */
export interface Approver {
  review(request: ApprovalRequest): Vote | Vote[] | void | null | Promise<Vote | Vote[] | void | null>
}

/** Receives canonical, hash-chained audit lines; must make them durable. */
export interface AuditSink {
  append(lines: string[]): void | Promise<void>
}

export interface GateOptions {
  policy: Policy
  /** A JSONL file path (or `jsonl:PATH`), `sqlite:PATH`, `postgres://...`, or an object with append(lines). */
  audit?: string | AuditSink
  /** Where pending requests live: `memory` (default), `sqlite:PATH` or `postgres://...`. */
  store?: string
  approver?: Approver | 'queue' | 'terminal'
  durability?: 'every-record' | 'group' | 'os-buffered'
  stream?: string
  permitTtlMs?: number
  /**
   * A checkpoint signing key file from `signoff audit keygen`: the trail gets
   * ed25519-signed checkpoints (every 1000 records, every minute and on
   * `close()`) that `signoff audit verify --pubkey` checks. A missing key
   * throws an `AuditError`.
   */
  checkpointKeyFile?: string
  /** The name of an environment variable holding the key file's 64 hex characters. */
  checkpointKeyEnv?: string
  /** The gate's defaults: every action without its own value takes them. */
  actor?: string
  onBehalfOf?: string
  env?: string
  /** Context keys every action carries (the action's own keys win). */
  context?: { [key: string]: Json }
  /** A file (at least 16 random bytes) keying the digests that replace redacted values; random when unset. */
  redactKeyFile?: string
  /** An environment variable holding that secret. */
  redactKeyEnv?: string
  /**
   * A candidate policy run in shadow beside the live one: both decide every
   * action, the live one's decision is what happens, and where the candidate
   * differs a `policy.shadow` record is written (DESIGN §12).
   */
  shadow?: Policy
}

export declare class Permit {
  private constructor()
  readonly actionId: string
  readonly requestId: string | null
  readonly name: string
  /** The args to run with: the approved ones, possibly edited. */
  readonly args: { [key: string]: Json }
  readonly argsDigest: string
  readonly actionDigest: string
  readonly approvedBy: string[]
  readonly expiresAt: string
  /** Whether the permit has expired; an expired permit cannot complete. */
  readonly expired: boolean
  complete(outcome?: { ok?: boolean; detail?: string }): Promise<void>
}

export interface GuardOptions<A extends unknown[]> {
  actor?: string | ((...args: A) => string | undefined)
  onBehalfOf?: string | ((...args: A) => string | undefined)
  resource?: string | ((...args: A) => string | undefined)
  env?: string | ((...args: A) => string | undefined)
  justification?: string | ((...args: A) => string | undefined)
  context?: { [key: string]: Json } | ((...args: A) => { [key: string]: Json })
  /** What reviewers see as args; the function then runs with its original arguments. */
  args?: { [key: string]: Json } | ((...args: A) => { [key: string]: Json })
}

export declare class Gate {
  constructor(options: GateOptions)
  /** A gate built from a gate config file (what `signoff serve --config` reads). */
  static fromConfig(path: string): Gate
  /** What `require` would decide now, the gate's defaults filled in; records nothing. */
  evaluate(action: Action): Decision
  readonly policy: Policy
  setPolicy(policy: Policy): void
  require(action: Action): Promise<Permit>
  submit(action: Action): Promise<{ permit: Permit; pending?: undefined } | { pending: string; permit?: undefined }>
  resume(requestId: string): Promise<Permit>
  /** Cancels a pending request; its waiters reject with `SIGNOFF_CANCELLED`. */
  cancel(requestId: string, reason?: string): Promise<void>
  vote(requestId: string, vote: Vote): Promise<Status>
  pending(): Promise<ApprovalRequest[]>
  request(requestId: string): Promise<ApprovalRequest>
  guard<A extends unknown[], R>(name: string, fn: (...args: A) => R | Promise<R>, options?: GuardOptions<A>): (...args: A) => Promise<R>
  close(): Promise<void>
}

export type ErrorCode =
  | 'SIGNOFF_DENIED'
  | 'SIGNOFF_TIMEOUT'
  | 'SIGNOFF_CANCELLED'
  | 'SIGNOFF_POLICY'
  | 'SIGNOFF_AUDIT'
  | 'SIGNOFF_INVALID_ACTION'
  | 'SIGNOFF_VOTE_REJECTED'
  | 'SIGNOFF_APPROVER'
  | 'SIGNOFF_STORE'
  | 'SIGNOFF_NOT_FOUND'
  | 'SIGNOFF_NO_APPROVER'
  | 'SIGNOFF_USED'
  | 'SIGNOFF_CONFIG'
  | 'SIGNOFF_ID_REUSED'
  | 'SIGNOFF_PERMIT_EXPIRED'
  | 'SIGNOFF_ERROR'

export declare class SignoffError extends Error {
  readonly code: ErrorCode
  readonly rule?: string | null
  readonly rules?: string[]
  readonly reason?: string
  readonly voter?: string | null
  readonly comment?: string | null
  readonly actionId?: string
  readonly requestId?: string | null
  readonly issues?: { file: string | null; line: number; column: number; rule: string | null; field: string; message: string }[]
}
export declare class DeniedError extends SignoffError {}
export declare class TimeoutError extends SignoffError {}
export declare class CancelledError extends SignoffError {}
export declare class PolicyError extends SignoffError {}
export declare class AuditError extends SignoffError {}
export declare class InvalidActionError extends SignoffError {}
export declare class VoteRejectedError extends SignoffError {}
export declare class ApproverError extends SignoffError {}
export declare class StoreError extends SignoffError {}
export declare class NotFoundError extends SignoffError {}
export declare class NoApproverError extends SignoffError {}
export declare class UsedError extends SignoffError {}

/** Converts a value to exact JSON or throws a TypeError naming the path. */
export declare function toJson(value: unknown, path: string): Json
