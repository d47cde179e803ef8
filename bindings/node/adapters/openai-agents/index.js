'use strict'
// `signoff/openai-agents` (CommonJS): the OpenAI Agents JS adapter. Needs `@openai/agents`.
const { missingFramework, isMissing } = require('../contract.js')
const { build } = require('./adapter.js')

let framework
try {
  framework = require('@openai/agents')
} catch (err) {
  if (isMissing(err, '@openai/agents')) throw missingFramework('openai-agents', '@openai/agents', err)
  throw err
}

module.exports = build(framework, '@openai/agents')
