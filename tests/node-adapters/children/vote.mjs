// Another process votes: opens the shared store, approves every pending request as carol.
// Usage: vote.mjs DIR [EDITED_ARGS_JSON]
import { newGate } from '../helpers.mjs'

const [dir, edited] = process.argv.slice(2)
const { gate } = newGate({ store: true, dir, stream: 'reviewer' })
const pending = await gate.pending()
const statuses = []
for (const request of pending) {
  const args = edited ? JSON.parse(edited) : undefined
  statuses.push(await gate.vote(request.id, { voter: 'user:carol@example.com', verdict: 'approve', args, argsDigest: args ? request.args_digest : undefined }))
}
// no gate.close(): it would cancel every other request still pending in the shared store
console.log(JSON.stringify({ voted: pending.map((r) => r.action_id), statuses }))
