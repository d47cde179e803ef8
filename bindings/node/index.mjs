// ESM entry point: the same objects as the CommonJS one.
import signoff from './index.js'

export const {
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
} = signoff
export default signoff
