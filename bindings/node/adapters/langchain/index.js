'use strict'
// `signoff/langchain` (CommonJS): the LangChain.js v1 middleware. Needs `langchain`.
const { missingFramework, isMissing } = require('../contract.js')
const { build } = require('./adapter.js')

let framework
try {
  framework = require('langchain')
} catch (err) {
  if (isMissing(err, 'langchain')) throw missingFramework('langchain', 'langchain', err)
  throw err
}

module.exports = build(framework, 'langchain')
