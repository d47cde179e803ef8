// The approval page's script, served as a file: the page's
// Content-Security-Policy allows no inline script. Counts down the time left
// and refreshes the pending list, or the open request, every few seconds.
'use strict'

function left (iso) {
  const s = Math.round((new Date(iso) - Date.now()) / 1000)
  if (s <= 0) return 'expired'
  if (s >= 3600) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm'
  if (s >= 60) return Math.floor(s / 60) + 'm ' + (s % 60) + 's'
  return s + 's'
}

function esc (s) {
  return String(s ?? '-').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]))
}

function ticks () {
  document.querySelectorAll('[data-expires]').forEach((e) => { e.textContent = left(e.dataset.expires) })
}

async function refreshList (rows) {
  try {
    const r = await fetch('/v1/requests?status=pending', { credentials: 'same-origin' })
    if (!r.ok) return
    const list = await r.json()
    rows.innerHTML = list.length
      ? list.map((q) => `<tr><td><a href="/requests/${encodeURIComponent(q.id)}">${esc(q.action)}</a></td><td>${esc(q.actor)}</td><td>${esc(q.on_behalf_of)}</td><td>${esc(q.resource)}</td><td>${esc(q.env)}</td><td>${esc(q.risk)}</td><td>${q.requirements.map((x) => x.min + ' of ' + esc(x.group)).join(' + ')}</td><td data-expires="${esc(q.expires_at)}"></td></tr>`).join('')
      : '<tr><td colspan=8>Nothing waits for you.</td></tr>'
    ticks()
  } catch (e) {}
}

async function refreshRequest (id) {
  try {
    const r = await fetch('/v1/requests/' + encodeURIComponent(id), { credentials: 'same-origin' })
    if (!r.ok) return
    const q = await r.json()
    const s = document.getElementById('status')
    s.textContent = q.status
    s.className = 'status ' + q.status
    if (q.status !== 'pending') {
      const f = document.getElementById('vote')
      if (f) f.remove()
    }
  } catch (e) {}
}

ticks()
setInterval(ticks, 1000)
const rows = document.getElementById('rows')
if (rows) setInterval(() => refreshList(rows), 3000)
const request = document.querySelector('[data-request]')
if (request) setInterval(() => refreshRequest(request.dataset.request), 3000)
