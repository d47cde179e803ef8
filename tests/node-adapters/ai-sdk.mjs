// The Vercel AI SDK versions under test, each with its own mock model, and
// one way to run an agent (generateText with tools) on any of them.
import * as ai5 from 'ai-v5'
import * as ai6 from 'ai-v6'
import * as ai7 from 'ai'
import { MockLanguageModelV2 } from 'ai-v5/test'
import { MockLanguageModelV3 } from 'ai-v6/test'
import { MockLanguageModelV4 } from 'ai/test'
import { z } from 'zod'

const usageV5 = { inputTokens: 1, outputTokens: 1, totalTokens: 2 }
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } }

function turn(major, step) {
  const content = step.calls
    ? step.calls.map(([toolCallId, toolName, input]) => ({ type: 'tool-call', toolCallId, toolName, input: JSON.stringify(input) }))
    : [{ type: 'text', text: step.text }]
  const reason = step.calls ? 'tool-calls' : 'stop'
  if (major === 5) return { content, finishReason: reason, usage: usageV5, warnings: [] }
  return { content, finishReason: { unified: reason, raw: reason }, usage, warnings: [] }
}

export const VERSIONS = [
  { major: 5, ai: ai5, Mock: MockLanguageModelV2 },
  { major: 6, ai: ai6, Mock: MockLanguageModelV3 },
  { major: 7, ai: ai7, Mock: MockLanguageModelV4 },
]
export const V7 = VERSIONS[2]

/** A mock model that emits `calls` (`[id, tool, input]`) first, then the text `done`. */
export function scripted(version, calls) {
  const steps = calls ? [{ calls }, { text: 'done' }] : [{ text: 'done' }]
  let n = 0
  return new version.Mock({ doGenerate: async () => turn(version.major, steps[Math.min(n++, steps.length - 1)]) })
}

/** The tool results the model was given last, by call id: `{ type, value | reason }`. */
export function seen(model) {
  const out = {}
  for (const message of model.doGenerateCalls.at(-1).prompt) {
    if (message.role !== 'tool') continue
    for (const part of message.content) if (part.type === 'tool-result') out[part.toolCallId] = part.output
  }
  return out
}

/** The tools every suite gates; each run is recorded in `ran` as `[tool, input]`. */
export function tools(version, ran) {
  const { tool } = version.ai
  const record = (name, input, out) => {
    ran.push([name, input])
    return out
  }
  return {
    query: tool({ description: 'read rows', inputSchema: z.object({ sql: z.string() }), execute: async (input) => record('query', input, `rows for ${input.sql}`) }),
    exec: tool({ description: 'run SQL', inputSchema: z.object({ sql: z.string() }), execute: async (input) => record('exec', input, `ran ${input.sql}`) }),
    exportRows: tool({
      description: 'export a table',
      inputSchema: z.object({ table: z.string(), rows: z.number() }),
      execute: async (input) => record('exportRows', input, `exported ${input.rows} rows of ${input.table}`),
    }),
    restart: tool({ description: 'restart a service', inputSchema: z.object({ service: z.string() }), execute: async (input) => record('restart', input, `restarted ${input.service}`) }),
  }
}

/** One agent run: the model calls `calls`, the tools run through `tools`. */
export async function agentRun(version, toolSet, calls, extra = {}) {
  const model = scripted(version, calls)
  const result = await version.ai.generateText({ model, tools: toolSet, prompt: 'do the task', stopWhen: version.ai.stepCountIs(4), ...extra })
  return { model, result }
}

/** The text a tool output carries, whatever its type. */
export function text(output) {
  if (!output) return undefined
  return output.type === 'execution-denied' ? output.reason : output.value
}
