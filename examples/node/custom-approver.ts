// A custom approver in TypeScript: review may be async, return votes, or
// vote later through gate.vote. A throw fails the request closed.
// Checked with `tsc --strict --noEmit` (npm run typecheck in bindings/node).
import { Gate, Policy, DeniedError } from 'signoff'
import type { ApprovalRequest, Approver, Vote } from 'signoff'

class OnCallApprover implements Approver {
  constructor(private readonly maxRows: number) {}

  async review(request: ApprovalRequest): Promise<Vote[]> {
    const rows = typeof request.args.rows === 'number' ? request.args.rows : 0
    if (rows > this.maxRows) {
      return [{ voter: 'user:carol@example.com', verdict: 'deny', comment: `${rows} rows is too many` }]
    }
    return [
      { voter: 'user:carol@example.com', verdict: 'approve', argsDigest: request.args_digest },
      { voter: 'user:dan@example.com', verdict: 'approve', argsDigest: request.args_digest },
    ]
  }
}

export async function main(policyPath: string): Promise<void> {
  const gate = new Gate({ policy: Policy.fromFile(policyPath), approver: new OnCallApprover(100_000) })
  const exportRows = (rows: number) =>
    gate.require({
      name: 'db.export',
      actor: 'agent:billing-bot',
      onBehalfOf: 'user:alice@example.com',
      resource: 'postgres://prod/customers',
      env: 'prod',
      args: { rows },
    })
  const permit = await exportRows(50_000)
  console.log('approved by', permit.approvedBy)
  await permit.complete({ ok: true })
  try {
    await exportRows(5_000_000)
  } catch (err) {
    if (err instanceof DeniedError) console.log(`denied by ${err.voter}: ${err.comment}`)
    else throw err
  }
  const guarded = gate.guard('db.query', async (sql: string): Promise<number> => sql.length, { actor: 'agent:billing-bot' })
  const n: number = await guarded('select 1')
  console.log(n)
  await gate.close()
}
