/* global document, location, localStorage, performance, WebSocket */
// The chat page: one WebSocket to /ws through ws-cluster, a status panel fed
// by what the backend reports, app-level pings for the round trip, and
// reconnection with exponential backoff that the page shows as it happens.
'use strict'

const PING_EVERY_MS = 2000
const PONG_DEADLINE_MS = 6000
const BACKOFF_FIRST_MS = 500
const BACKOFF_MAX_MS = 8000

const $ = (id) => document.getElementById(id)
const ui = {
  state: $('conn-state'),
  banner: $('reconnect-banner'),
  joinForm: $('join-form'),
  name: $('name'),
  messages: $('messages'),
  composer: $('composer'),
  text: $('text'),
  worker: $('proxy-worker'),
  backend: $('backend'),
  rtt: $('rtt'),
  clientIp: $('client-ip'),
  transport: $('transport'),
  reconnects: $('reconnects'),
  events: $('events')
}

const session = {
  name: '',
  socket: null,
  joinedBefore: false,
  attempt: 0,
  reconnects: 0,
  seen: new Set(),
  pingTimer: null,
  lastPong: 0,
  retryTimer: null,
  countdownTimer: null
}

function time (at) {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

function logEvent (text, kind) {
  const li = document.createElement('li')
  if (kind) li.className = kind
  const stamp = document.createElement('time')
  stamp.textContent = time(Date.now())
  li.append(stamp, text)
  ui.events.prepend(li)
  while (ui.events.children.length > 40) ui.events.lastChild.remove()
}

function setState (state, label) {
  ui.state.dataset.state = state
  ui.state.textContent = label
}

function showView (view) {
  const w = view.proxyWorker
  ui.worker.textContent = w ? `worker ${w.id} · pid ${w.pid}` : 'not reported'
  ui.backend.textContent = `${view.backend.name} · pid ${view.backend.pid}`
  ui.backend.dataset.backend = view.backend.name
  ui.clientIp.textContent = view.client.xRealIp || view.client.xForwardedFor || view.client.remoteAddress || '—'
  ui.transport.textContent = view.transport === 'redis' ? 'Redis pub/sub' : 'peer mesh'
}

function addMessage (event) {
  if (session.seen.has(event.id)) return
  session.seen.add(event.id)
  const li = document.createElement('li')
  if (event.type === 'system') {
    li.className = 'system'
    li.textContent = `${time(event.at)} · ${event.text}`
  } else {
    li.className = event.name === session.name ? 'msg mine' : 'msg'
    const meta = document.createElement('div')
    meta.className = 'meta'
    const via = document.createElement('span')
    via.className = 'via'
    via.textContent = `via ${event.backend}`
    meta.append(`${event.name} · ${time(event.at)}`, via)
    const bubble = document.createElement('div')
    bubble.className = 'bubble'
    bubble.textContent = event.text
    li.append(meta, bubble)
  }
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40
  ui.messages.append(li)
  if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight
}

function send (message) {
  const socket = session.socket
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message))
    return true
  }
  return false
}

function stopPings () {
  clearInterval(session.pingTimer)
  session.pingTimer = null
}

function startPings () {
  stopPings()
  session.lastPong = performance.now()
  const tick = () => {
    // A connection that stopped answering is dead even if the browser has not noticed.
    if (performance.now() - session.lastPong > PONG_DEADLINE_MS) {
      lost(session.socket, 'no pong for 6 s')
      return
    }
    send({ type: 'ping', t: performance.now() })
  }
  tick()
  session.pingTimer = setInterval(tick, PING_EVERY_MS)
}

function onMessage (socket, data) {
  if (socket !== session.socket) return
  const msg = JSON.parse(data)
  if (msg.type === 'welcome') {
    showView(msg.view)
    setState('open', 'connected')
    ui.banner.hidden = true
    const w = msg.view.proxyWorker
    logEvent(`connected to ${msg.view.backend.name}${w ? ` via worker ${w.id}` : ''}`, 'ok')
    session.attempt = 0
    send({ type: 'join', name: session.name, rejoin: session.joinedBefore })
    session.joinedBefore = true
    for (const event of msg.history) addMessage(event)
    startPings()
  } else if (msg.type === 'pong') {
    session.lastPong = performance.now()
    ui.rtt.textContent = `${(performance.now() - msg.t).toFixed(1)} ms`
  } else if (msg.type === 'error') {
    logEvent(`server: ${msg.message}`, 'bad')
  } else if (msg.type === 'chat' || msg.type === 'system') {
    addMessage(msg)
  }
}

function connect () {
  setState('connecting', 'connecting…')
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const socket = new WebSocket(`${scheme}://${location.host}/ws`)
  session.socket = socket
  socket.addEventListener('message', (e) => onMessage(socket, e.data))
  socket.addEventListener('close', (e) => {
    lost(socket, `code ${e.code}${e.reason ? `, ${e.reason}` : ''}`)
  })
}

// Called once per socket, whichever notices first: the close event or the pong deadline.
function lost (socket, why) {
  if (socket !== session.socket) return
  session.socket = null
  stopPings()
  socket.close()
  ui.rtt.textContent = '—'
  logEvent(`connection lost (${why})`, 'bad')
  scheduleReconnect()
}

function scheduleReconnect () {
  session.attempt += 1
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (session.attempt - 1))
  // Jitter spreads the reconnects of many pages that lost the same backend at once.
  const delay = Math.round(base * (0.8 + Math.random() * 0.4))
  const due = performance.now() + delay
  setState('reconnecting', `reconnecting (attempt ${session.attempt})`)
  logEvent(`retry ${session.attempt} in ${(delay / 1000).toFixed(1)} s`, 'warn')
  ui.banner.hidden = false
  const render = () => {
    const left = Math.max(0, due - performance.now())
    ui.banner.textContent = `Connection lost — reconnecting in ${(left / 1000).toFixed(1)} s (attempt ${session.attempt}). Messages sent meanwhile by others will be filled in.`
  }
  render()
  clearInterval(session.countdownTimer)
  session.countdownTimer = setInterval(render, 100)
  clearTimeout(session.retryTimer)
  session.retryTimer = setTimeout(() => {
    clearInterval(session.countdownTimer)
    session.reconnects += 1
    ui.reconnects.textContent = String(session.reconnects)
    connect()
  }, delay)
}

ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault()
  const name = ui.name.value.trim()
  if (!name) return
  session.name = name
  localStorage.setItem('ws-cluster-demo-name', name)
  ui.joinForm.hidden = true
  ui.messages.hidden = false
  ui.composer.hidden = false
  ui.text.focus()
  connect()
})

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault()
  const text = ui.text.value.trim()
  if (!text) return
  if (send({ type: 'chat', text })) {
    ui.text.value = ''
  } else {
    logEvent('not sent: reconnecting, try again in a moment', 'warn')
  }
})

ui.name.value = localStorage.getItem('ws-cluster-demo-name') || ''
ui.name.focus()
