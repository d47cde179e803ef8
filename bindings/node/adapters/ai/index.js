'use strict'
// `signoff/ai` (CommonJS): the Vercel AI SDK adapter. Needs the `ai` package.
const { missingFramework } = require('../contract.js')

try {
  require.resolve('ai')
} catch (err) {
  throw missingFramework('ai', 'ai', err)
}

module.exports = require('./adapter.js')
