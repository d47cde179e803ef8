// `signoff/langchain` (ESM): the LangChain.js v1 middleware. Needs `langchain`.
import contract from '../contract.js'
import adapter from './adapter.js'

let framework
try {
  framework = await import('langchain')
} catch (err) {
  if (contract.isMissing(err, 'langchain')) throw contract.missingFramework('langchain', 'langchain', err)
  throw err
}

const api = adapter.build(framework, 'langchain')
export const { signoffMiddleware } = api
export default api
