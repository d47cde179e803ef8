// `signoff audit report` in a real browser (Debian's chromium): a trail
// written by real gates (the report_trail example of signoff-cli, spread over
// two weeks) is rendered to HTML, opened from disk with the network off, and
// checked: the key numbers of the JSON report are visible, markup from the
// trail is inert, a tampered trail shows its break at the top, and printed
// (A4 landscape) no table is wider than the page. Saves screenshots and the
// PDF in target/browser/.
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = process.env.SIGNOFF_BIN || path.join(root, 'target', 'debug', 'signoff')
const fixture = process.env.SIGNOFF_REPORT_TRAIL || path.join(root, 'target', 'debug', 'examples', 'report_trail')
const shots = path.join(root, 'target', 'browser')

const thousands = (n) => n.toLocaleString('en-US')

async function launch () {
  return chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'signoff-chromium-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    offline: true,
    viewport: { width: 1280, height: 1700 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  })
}

function report (files, format, extra = []) {
  const r = spawnSync(bin, ['audit', 'report', ...files, '--format', format, ...extra], { encoding: 'utf8', maxBuffer: 64 << 20 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('the HTML report shows the numbers, is inert, and prints without cut-off tables', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'signoff-report-'))
  const { files, pubkey } = JSON.parse(execFileSync(fixture, [dir, '300', '3', '14'], { encoding: 'utf8' }))
  const key = pubkey.trim()
  const json = report(files, 'json', ['--pubkey', key])
  assert.equal(json.code, 0, json.err)
  const data = JSON.parse(json.out)
  const html = report(files, 'html', ['--pubkey', key])
  assert.equal(html.code, 0, html.err)
  const file = path.join(dir, 'report.html')
  writeFileSync(file, html.out)

  let browser
  try {
    browser = await launch()
    const page = browser.pages()[0] || (await browser.newPage())
    const requests = []
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()) })
    const dialogs = []
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })
    await page.goto(pathToFileURL(file).href)
    const text = await page.innerText('main')
    const s = data.summary
    assert.ok(text.includes('The audit trail is intact'))
    const self = data.refused_votes.find((r) => r.code === 'self_approval').count
    for (const [n, label] of [
      [s.decisions, 'privileged actions decided'], [s.allow, 'allowed by policy'], [s.deny, 'denied by policy'],
      [s.approve, 'sent for human approval'], [s.approved, 'approved by reviewers'], [s.denied_by_reviewer, 'denied by reviewers'],
      [s.expired, 'timed out'], [s.refused_votes, 'votes refused'], [self, 'self-approval attempts'],
    ]) {
      assert.ok(n > 0, `${label}: the fixture has some`)
      const card = page.locator('.card', { hasText: label })
      assert.equal((await card.locator('.n').innerText()).trim(), thousands(n), label)
      assert.ok(await card.isVisible(), `${label} is visible`)
    }
    assert.ok(text.includes(`${thousands(data.verification.signatures_verified)} checkpoint signature(s) verified`))
    assert.equal(await page.locator('svg.chart rect').count() > 14, true, 'a bar per day and effect')
    assert.equal(data.days.length, 14)
    // the trail's <script> and <img onerror> are text, never run
    assert.ok(text.includes("<script>document.title='pwned'</script>"), 'the payload is shown as text')
    assert.notEqual(await page.title(), 'pwned')
    assert.equal(await page.locator('main script, main img').count(), 0)
    assert.deepEqual(dialogs, [])
    assert.deepEqual(requests, [], 'the report loads nothing')
    // big enough to read: body text of at least 12 px, on the screen
    const px = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('p.explain')).fontSize))
    assert.ok(px >= 12, `text is ${px}px`)
    mkdirSync(shots, { recursive: true })
    await page.screenshot({ path: path.join(shots, 'report.png') })

    // printed: A4 landscape minus the margins is 277 mm, about 1047 CSS px
    await page.emulateMedia({ media: 'print' })
    await page.setViewportSize({ width: 1047, height: 740 })
    const overflow = await page.evaluate(() => {
      const bad = []
      for (const t of document.querySelectorAll('table, svg, .cards, .verdict')) {
        const r = t.getBoundingClientRect()
        if (t.scrollWidth > t.clientWidth + 1 || r.right > document.documentElement.clientWidth + 1) bad.push(`${t.tagName}.${t.className} ${Math.round(r.right)}px`)
      }
      for (const td of document.querySelectorAll('td, th')) {
        if (td.scrollWidth > td.clientWidth + 1) bad.push(`cell "${td.innerText.slice(0, 40)}" ${td.scrollWidth}>${td.clientWidth}`)
      }
      if (document.documentElement.scrollWidth > document.documentElement.clientWidth) bad.push(`page ${document.documentElement.scrollWidth}px`)
      const repeated = [...document.querySelectorAll('thead')].every((h) => getComputedStyle(h).display === 'table-header-group')
      return { bad, repeated }
    })
    assert.deepEqual(overflow.bad, [], 'nothing is wider than the printed page')
    assert.ok(overflow.repeated, 'table headers repeat on each printed page')
    const pdf = path.join(shots, 'report.pdf')
    await page.pdf({ path: pdf, preferCSSPageSize: true, printBackground: true })
    const bytes = readFileSync(pdf)
    assert.equal(bytes.subarray(0, 5).toString(), '%PDF-')
    const pages = (bytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length
    assert.ok(pages > 3, `the PDF has ${pages} pages`)
    assert.ok(statSync(pdf).size > 20_000)
  } finally {
    if (browser) await browser.close()
  }
})

test('a tampered trail shows its break first, in red, above the numbers', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'signoff-report-'))
  const { files } = JSON.parse(execFileSync(fixture, [dir, '60', '1', '1'], { encoding: 'utf8' }))
  const lines = readFileSync(files[0], 'utf8').split('\n')
  const at = lines.findIndex((l) => l.includes('"effect":"deny"'))
  lines[at] = lines[at].replace('"effect":"deny"', '"effect":"allow"')
  writeFileSync(files[0], lines.join('\n'))
  const html = report(files, 'html')
  assert.equal(html.code, 1)
  const file = path.join(dir, 'broken.html')
  writeFileSync(file, html.out)
  let browser
  try {
    browser = await launch()
    const page = browser.pages()[0] || (await browser.newPage())
    await page.goto(pathToFileURL(file).href)
    const verdict = page.locator('.verdict.broken')
    assert.match(await verdict.innerText(), new RegExp(`THE AUDIT TRAIL IS BROKEN[\\s\\S]*line ${at + 1}`))
    const v = await verdict.boundingBox()
    const summary = await page.locator('#summary').boundingBox()
    assert.ok(v.y < summary.y && v.y < 300, 'the break is at the top')
    const color = await page.evaluate(() => getComputedStyle(document.querySelector('.verdict.broken h2')).color)
    assert.equal(color, 'rgb(179, 55, 47)')
    mkdirSync(shots, { recursive: true })
    await page.screenshot({ path: path.join(shots, 'report-broken.png') })
  } finally {
    if (browser) await browser.close()
  }
})
