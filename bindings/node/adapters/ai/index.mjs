// `signoff/ai` (ESM): the Vercel AI SDK adapter. Needs the `ai` package.
import contract from '../contract.js'
import adapter from './adapter.js'

try {
  await import('ai')
} catch (err) {
  if (contract.isMissing(err, 'ai')) throw contract.missingFramework('ai', 'ai', err)
  throw err
}

export const { gateTools, toolApproval } = adapter
export default adapter
