// `signoff/openai-agents` (ESM): the OpenAI Agents JS adapter. Needs `@openai/agents`.
import contract from '../contract.js'
import adapter from './adapter.js'

let framework
try {
  framework = await import('@openai/agents')
} catch (err) {
  if (contract.isMissing(err, '@openai/agents')) throw contract.missingFramework('openai-agents', '@openai/agents', err)
  throw err
}

const api = adapter.build(framework, '@openai/agents')
export const { gateTool, signoffGuardrail, resolveApprovals } = api
export default api
