// A reviewer logs in to the approval page in a real browser (Debian's
// chromium), opens the pending request, approves it, and the agent's waiting
// `require` returns a permit. Saves a screenshot of the detail page.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const demo = process.env.SIGNOFF_APPROVAL_PAGE || path.join(root, 'target', 'debug', 'examples', 'approval_page')
const shots = path.join(root, 'target', 'browser')

function lines(child) {
  const queue = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiters.shift()
    if (w) w(line)
    else queue.push(line)
  })
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve)))
}

test('a reviewer approves in the browser and the waiting require returns a permit', { timeout: 90_000 }, async () => {
  const agent = spawn(demo, [], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SIGNOFF_DEMO_TOKEN: 'carol-browser-token' } })
  const next = lines(agent)
  let browser
  try {
    const ready = await next()
    assert.match(ready, /^READY /)
    const { url, token, request_id: requestId } = JSON.parse(ready.slice('READY '.length))
    // a new, empty profile each run (Playwright passes it as --user-data-dir)
    browser = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'signoff-chromium-')), {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    })
    const page = browser.pages()[0] || (await browser.newPage())
    await page.goto(url)
    assert.match(page.url(), /\/login$/, 'an anonymous visitor is sent to log in')
    await page.fill('input[name=token]', token)
    await page.click('button')
    await page.waitForURL(`${url}/`)
    const link = page.locator(`a[href="/requests/${requestId}"]`)
    await link.waitFor()
    await link.click()
    await page.waitForURL(`${url}/requests/${requestId}`)
    const text = await page.textContent('main')
    for (const needle of ['agent:billing-bot', 'user:alice@example.com', 'postgres://prod/customers', 'monthly churn report', 'bulk export of production data', '1 of data-owners', 'redacted:ephemeral-']) {
      assert.ok(text.includes(needle), `the detail page shows ${needle}`)
    }
    assert.ok(!text.includes('hunter2'), 'the redacted password never reaches the page')
    mkdirSync(shots, { recursive: true })
    await page.screenshot({ path: path.join(shots, 'approval-detail.png'), fullPage: true })
    await page.fill('textarea[name=comment]', 'approved for the finance report')
    await page.click('button.approve')
    await page.waitForSelector('text=Your vote was counted')
    const permit = await next()
    assert.match(permit, /^PERMIT /)
    assert.deepEqual(JSON.parse(permit.slice('PERMIT '.length)).approved_by, ['user:carol@example.com'])
    await page.screenshot({ path: path.join(shots, 'approval-done.png'), fullPage: true })
  } finally {
    if (browser) await browser.close()
    agent.kill()
  }
})
