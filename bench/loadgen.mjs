#!/usr/bin/env node
// Koprade load generator: R rooms x C Yjs clients in one Node process.
//
// Client modes
//   full: each client is a real Y.Doc + the stock y-websocket WebsocketProvider (or
//     @hocuspocus/provider for Hocuspocus); receipts are observed on the document (deep observe
//     on `cards`) and on the awareness 'change' event, i.e. after Yjs integrated them.
//   lite: same wire traffic (each client's own Y.Doc and Awareness produce its updates), but
//     receipts are read from the raw frames without integrating them, so one process can play
//     200 users in one room (see openLiteClient and docs/benchmarks.md).
//
// Workloads
//   steady (presets one-room = 1 x 200, many-rooms = 50 x 10): every client adds/edits cards
//     and moves an awareness cursor at fixed rates; every other client of the room records
//     latency = receipt time - send time for each (op, receiver) pair.
//   join-storm: a seeding client writes N cards, then M clients connect at once; we time how
//     long until each of them is synced and sees all N cards.
//
// Output: a human-readable table on stderr and one final line `RESULT {json}` on stdout.
// See docs/benchmarks.md for definitions. All timestamps come from this process's
// monotonic clock (performance.timeOrigin + performance.now()), so sender and receiver share
// one clock and no clock sync is needed.

import { readFileSync } from 'node:fs'
import { performance, monitorEventLoopDelay } from 'node:perf_hooks'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider } from '@hocuspocus/provider'
import WebSocket from 'ws'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

// ---------------------------------------------------------------------------------------------
// Options

const PRESETS = {
  'one-room': { rooms: 1, clients: 200 },
  'many-rooms': { rooms: 50, clients: 10 },
  steady: { rooms: 1, clients: 10 },
  'join-storm': { rooms: 1, clients: 100 }
}

const HELP = `usage: node loadgen.mjs --url ws://127.0.0.1:PORT [options]
  --server-name NAME      label for the report (default: unknown)
  --workload W            one-room | many-rooms | steady | join-storm (default: steady)
  --url-style S           plain (ws://host:port/<room>) | koprade (HTTP join + /ws/rooms/<room>?token=)
                          | hocuspocus (@hocuspocus/provider)   (default: plain)
  --rooms R --clients C   override the workload preset (clients per room; for join-storm: joiners)
  --card-rate X           card add/edit ops per second per client (default 0.5)
  --cursor-rate X         cursor moves per second per client (default 2)
  --duration S            measurement window in seconds (default 20)
  --warmup S              load before the window, not counted (default 5)
  --drain S               load keeps running after the window; receipts of window ops are
                          still counted during it (default 5)
  --sync-timeout S        max wait for all clients to sync (default 60)
  --server-pid PID        read server CPU (/proc/PID/stat) and peak RSS (/proc/PID/status)
  --clk-tck N             kernel clock ticks per second for /proc stat (default 100)
  --storm-cards N         join-storm: cards seeded (default 5000)
  --storm-batch N         join-storm: cards per seeding transaction (default 250)
  --storm-timeout S       join-storm: max wait for the joiners (default 120)
  --client-mode M         full: every client is a Y.Doc + stock provider that applies all
                          updates (default); lite: same wire protocol and the same sends (own
                          Y.Doc + Awareness), but receipts are read from the raw frames
                          without applying them (see docs/benchmarks.md: one Node process
                          cannot apply 100k updates/s)
  --deflate               offer permessage-deflate like browsers do (default: off)
  --awareness-echo        behave like the stock y-websocket client, which re-sends every
                          remote awareness update it applies (N-fold awareness traffic to
                          the server; off by default, see docs/benchmarks.md)
  --progress S            progress line every S seconds on stderr (default 5, 0 = off)`

function parseArgs (argv) {
  const opts = {
    url: null,
    serverName: 'unknown',
    workload: 'steady',
    urlStyle: 'plain',
    rooms: null,
    clients: null,
    cardRate: 0.5,
    cursorRate: 2,
    duration: 20,
    warmup: 5,
    drain: 5,
    syncTimeout: 60,
    serverPid: null,
    clkTck: 100,
    stormCards: 5000,
    stormBatch: 250,
    stormTimeout: 120,
    clientMode: 'full',
    deflate: false,
    awarenessEcho: false,
    progress: 5
  }
  const numeric = new Set(['rooms', 'clients', 'cardRate', 'cursorRate', 'duration', 'warmup',
    'drain', 'syncTimeout', 'serverPid', 'clkTck', 'stormCards', 'stormBatch', 'stormTimeout',
    'progress'])
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-h' || arg === '--help') { console.log(HELP); process.exit(0) }
    if (arg === '--deflate') { opts.deflate = true; continue }
    if (arg === '--no-deflate') { opts.deflate = false; continue }
    if (arg === '--awareness-echo') { opts.awarenessEcho = true; continue }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    let [key, value] = arg.slice(2).split(/=(.*)/s)
    if (value === undefined) value = argv[++i]
    if (value === undefined) throw new Error(`missing value for ${arg}`)
    const name = key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (!(name in opts)) throw new Error(`unknown option ${arg}\n${HELP}`)
    if (numeric.has(name)) {
      const n = Number(value)
      if (!Number.isFinite(n)) throw new Error(`${arg} needs a number`)
      opts[name] = n
    } else {
      opts[name] = value
    }
  }
  if (!opts.url) throw new Error(`--url is required\n${HELP}`)
  const preset = PRESETS[opts.workload] ?? PRESETS.steady
  opts.rooms ??= preset.rooms
  opts.clients ??= preset.clients
  if (!['full', 'lite'].includes(opts.clientMode)) throw new Error(`unknown --client-mode ${opts.clientMode}`)
  if (!['plain', 'koprade', 'hocuspocus'].includes(opts.urlStyle)) {
    throw new Error(`unknown --url-style ${opts.urlStyle}`)
  }
  return opts
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (...args) => console.error(...args)

/** Growable Float64 array: millions of latency samples without boxing every number. */
class Samples {
  constructor () { this.buf = new Float64Array(1 << 16); this.length = 0 }
  push (v) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.length++] = v
  }

  summary () {
    const s = this.buf.slice(0, this.length).sort()
    const q = (p) => s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : null
    const r = (v) => v === null ? null : Math.round(v * 100) / 100
    return { n: s.length, p50: r(q(0.5)), p95: r(q(0.95)), p99: r(q(0.99)), max: r(s.length ? s[s.length - 1] : null) }
  }
}

/** user+sys CPU seconds of a process (all its threads), from /proc/<pid>/stat. */
function procCpuSeconds (pid, clkTck) {
  if (!pid) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces: split after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / clkTck
  } catch { return null }
}

/** A `Vm*` line of /proc/<pid>/status in MiB (e.g. VmHWM = peak resident set size). */
function procStatusMiB (pid, field) {
  if (!pid) return null
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null
  } catch { return null }
}

/** Busy CPU seconds per /proc/stat line ("cpu" = all cores, "cpu0", "cpu1", ...), split into
 *  user (incl. nice), system, and irq+softirq (mostly network processing on loopback). */
function machineBusy (clkTck) {
  try {
    const out = {}
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      if (!line.startsWith('cpu')) continue
      const [name, ...v] = line.trim().split(/\s+/)
      const [user, nice, system, , , irq, softirq, steal] = v.map(Number)
      out[name] = { user: (user + nice + steal) / clkTck, system: system / clkTck, irq: (irq + softirq) / clkTck }
    }
    return out
  } catch { return null }
}
const busyTotal = (b) => b.user + b.system + b.irq

/** Reads and diffs CPU use of the server and of this process over a window. */
class CpuWindow {
  constructor (opts) { this.opts = opts }
  start () {
    this.t0 = now()
    this.server0 = procCpuSeconds(this.opts.serverPid, this.opts.clkTck)
    this.machine0 = machineBusy(this.opts.clkTck)
    this.self0 = process.cpuUsage()
    this.eld = monitorEventLoopDelay({ resolution: 10 })
    this.eld.enable()
  }

  stop () {
    const wall = (now() - this.t0) / 1000
    const server1 = procCpuSeconds(this.opts.serverPid, this.opts.clkTck)
    const machine1 = machineBusy(this.opts.clkTck)
    const self = process.cpuUsage(this.self0)
    this.eld.disable()
    const serverCpu = this.server0 === null || server1 === null ? null : server1 - this.server0
    const selfCpu = (self.user + self.system) / 1e6
    const r3 = (v) => v === null ? null : Math.round(v * 1000) / 1000
    // Whatever else ran on the machine meanwhile (other processes, kernel network work not
    // charged to either process). A few % is normal; much more means a noisy measurement.
    const have = this.machine0 !== null && machine1 !== null
    const other = !have || serverCpu === null
      ? null
      : Math.max(0, busyTotal(machine1.cpu) - busyTotal(this.machine0.cpu) - serverCpu - selfCpu)
    // Where the machine's time went, per core, in % of that core (the server runs on CPU 0 and
    // the load generator on CPU 1 when started by run.sh).
    const perCore = {}
    if (have) {
      for (const [name, b1] of Object.entries(machine1)) {
        const b0 = this.machine0[name]
        if (name === 'cpu' || !b0) continue
        const p = (k) => Math.round((b1[k] - b0[k]) / wall * 1000) / 10
        perCore[name] = { user: p('user'), system: p('system'), irq: p('irq') }
      }
    }
    return {
      wall_s: r3(wall),
      server_cpu_s: r3(serverCpu),
      server_cpu_pct: serverCpu === null ? null : Math.round(serverCpu / wall * 1000) / 10,
      loadgen_cpu_s: r3(selfCpu),
      loadgen_cpu_pct: Math.round(selfCpu / wall * 1000) / 10,
      // Event-loop delay of this process: if it grows, receipts are timestamped late and the
      // load generator (not the server) is adding latency.
      // The histogram measures timer intervals, so it includes its own 10 ms resolution.
      loadgen_loop_delay_p99_ms: Math.max(0, Math.round((this.eld.percentile(99) / 1e6 - 10) * 100) / 100),
      loadgen_loop_delay_max_ms: Math.max(0, Math.round((this.eld.max / 1e6 - 10) * 100) / 100),
      other_cpu_pct: other === null ? null : Math.round(other / wall * 1000) / 10,
      machine_cpu_pct: perCore
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Connecting: three ways to reach a room

function httpBase (wsUrl) {
  const u = new URL(wsUrl)
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:'
  u.pathname = ''
  u.search = ''
  return u.toString().replace(/\/$/, '')
}

async function postJson (url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15000)
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${url} -> ${res.status}: ${text.slice(0, 200)}`)
  return JSON.parse(text)
}

/** Runs async jobs with bounded concurrency (keeps a join of 500 clients from opening 500 HTTP
 *  requests at once). */
async function mapLimit (items, limit, fn) {
  const out = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i) }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

const RUN_ID = Math.random().toString(36).slice(2, 8)

/**
 * Creates the rooms and, for Koprade, one participant token per client.
 * Returns [{name, tokens: [token per client] | null}].
 */
async function setupRooms (opts, rooms, clientsPerRoom) {
  if (opts.urlStyle !== 'koprade') {
    return Array.from({ length: rooms }, (_, r) => ({ name: `bench-${RUN_ID}-r${r}`, tokens: null }))
  }
  const base = httpBase(opts.url)
  const created = await mapLimit(Array.from({ length: rooms }, (_, r) => r), 8,
    (r) => postJson(`${base}/api/rooms`, { title: `bench ${RUN_ID} room ${r}` }))
  const result = []
  for (const room of created) {
    const joins = await mapLimit(Array.from({ length: clientsPerRoom }, (_, c) => c), 8,
      (c) => postJson(`${base}/api/join`, { code: room.code, name: `bench client ${c}` }))
    result.push({
      name: room.room,
      tokens: joins.map((j) => j.token),
      // Koprade checks that a new card names its sender as author (docs/facilitation.md).
      participants: joins.map((j) => j.participant),
      facilitatorToken: room.facilitator_token
    })
  }
  return result
}

/** WebSocket class handed to the providers: `ws`, offering permessage-deflate or not. `ws`
 *  offers it by default, like browsers; we turn it off unless --deflate (see the docs). */
function socketClass (opts) {
  const perMessageDeflate = opts.deflate
  return class extends WebSocket {
    constructor (address, protocols, options) { super(address, protocols, { ...options, perMessageDeflate }) }
  }
}

/**
 * Opens one client. Returns a uniform handle: {doc, awareness, synced(), onSynced(fn),
 * counters, destroy()}.
 */
function openClient (opts, room, token, doc) {
  const WS = socketClass(opts)
  const handle = { doc, disconnects: 0 }
  if (opts.urlStyle === 'hocuspocus') {
    const provider = new HocuspocusProvider({
      url: opts.url,
      name: room,
      document: doc,
      token: token ?? null,
      WebSocketPolyfill: WS
    })
    handle.provider = provider
    handle.awareness = provider.awareness
    handle.synced = () => provider.isSynced
    handle.onSynced = (fn) => provider.on('synced', ({ state }) => { if (state) fn() })
    provider.on('disconnect', () => { handle.disconnects++ })
    handle.destroy = () => provider.destroy()
  } else {
    const serverUrl = opts.urlStyle === 'koprade' ? `${opts.url.replace(/\/$/, '')}/ws/rooms` : opts.url
    const provider = new WebsocketProvider(serverUrl, room, doc, {
      WebSocketPolyfill: WS,
      params: token ? { token } : {},
      // Node has a global BroadcastChannel: without this, clients of the same room in this
      // process would exchange updates directly and bypass the server under test.
      disableBc: true
    })
    if (!opts.awarenessEcho) {
      // The stock client (y-websocket 3.1.0) sends every awareness change to the server,
      // including the remote ones it has just received (yjs/yjs#732): each cursor move then
      // comes back to the server from all N-1 receivers. Hocuspocus' provider skips updates
      // that came from its own connection; we do the same here, so every server sees the same
      // client traffic and the load generator is not spent on echoes. destroy() unregisters
      // `_awarenessUpdateHandler`, so the filtered version takes that name.
      const send = provider._awarenessUpdateHandler
      provider.awareness.off('update', send)
      provider._awarenessUpdateHandler = (changes, origin) => { if (origin !== provider) send(changes, origin) }
      provider.awareness.on('update', provider._awarenessUpdateHandler)
    }
    handle.provider = provider
    handle.awareness = provider.awareness
    handle.synced = () => provider.synced
    handle.onSynced = (fn) => provider.on('sync', (state) => { if (state) fn() })
    provider.on('connection-close', () => { handle.disconnects++ })
    handle.destroy = () => provider.destroy()
  }
  return handle
}

/**
 * A "lite" client: speaks the same wire protocol and sends exactly what the stock client sends
 * (its own Y.Doc produces the card updates, a y-protocols Awareness the cursor states, and it
 * answers sync step 1 and awareness queries), but it does not integrate what it receives. It
 * finds the op ids in the raw update bytes (the text `t:<ms>:<sender>.<seq>` is stored verbatim
 * in a Yjs update) and decodes awareness entries itself. The server cannot tell the difference;
 * the load generator saves the per-receiver Yjs work (state vectors, update re-encoding, events)
 * that a browser would spend on its own core.
 *
 * Its own doc only ever holds its own cards, which is enough: adding a card under a fresh key of
 * the root map and rewriting one's own card text never reference other clients' items.
 *
 * hooks: {onDoc(sender, seq, t), onCursor(clientID, cursor, t), onStep2?(payload, t)}.
 */
function openLiteClient (opts, room, token, doc, hooks) {
  const hocus = opts.urlStyle === 'hocuspocus'
  let url
  if (opts.urlStyle === 'koprade') {
    url = `${opts.url.replace(/\/$/, '')}/ws/rooms/${room}?token=${encodeURIComponent(token)}`
  } else if (hocus) {
    url = opts.url // Hocuspocus names the document inside every message instead
  } else {
    url = `${opts.url.replace(/\/$/, '')}/${room}`
  }
  const awareness = new awarenessProtocol.Awareness(doc)
  const handle = { doc, awareness, disconnects: 0, isSynced: false, syncFns: [] }
  const clocks = new Map() // awareness clock last seen per remote client (for --awareness-echo)
  const ws = new WebSocket(url, { perMessageDeflate: opts.deflate })
  const message = (write) => {
    const enc = encoding.createEncoder()
    if (hocus) encoding.writeVarString(enc, room)
    write(enc)
    return encoding.toUint8Array(enc)
  }
  const send = (bytes) => { if (ws.readyState === WebSocket.OPEN) ws.send(bytes) }
  const awarenessMessage = (clients) => message((enc) => {
    encoding.writeVarUint(enc, 1)
    encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(awareness, clients))
  })

  doc.on('update', (update) => send(message((enc) => {
    encoding.writeVarUint(enc, 0)
    syncProtocol.writeUpdate(enc, update)
  })))
  // Only our own state ('local' origin; we never apply remote awareness).
  awareness.on('update', ({ added, updated, removed }, origin) => {
    if (origin === 'local') send(awarenessMessage(added.concat(updated, removed)))
  })

  ws.on('open', () => {
    if (hocus) {
      // Hocuspocus wants an auth message (message type 2, token sub-type 0) first.
      send(message((enc) => { encoding.writeVarUint(enc, 2); encoding.writeVarUint(enc, 0); encoding.writeVarString(enc, token ?? '') }))
    }
    send(message((enc) => { encoding.writeVarUint(enc, 0); syncProtocol.writeSyncStep1(enc, doc) }))
    send(awarenessMessage([doc.clientID]))
  })
  ws.on('close', (code, reason) => {
    handle.disconnects++
    if (process.env.LOADGEN_DEBUG) log(`[lite] ${room} closed ${code} ${reason} at ${(performance.now() / 1000).toFixed(3)}s`)
  })
  ws.on('error', (e) => { if (process.env.LOADGEN_DEBUG) log(`[lite] ${room} error ${e.message}`) })

  const opText = /t:(\d+(?:\.\d+)?):(\d+)\.(\d+)/g
  const scanUpdate = (bytes, t) => {
    // latin1 keeps bytes 1:1, so ASCII op ids are found even inside binary data.
    const str = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    opText.lastIndex = 0
    let m
    while ((m = opText.exec(str)) !== null) hooks.onDoc(Number(m[2]), Number(m[3]), t)
  }

  ws.on('message', (data) => {
    const t = now()
    const dec = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    if (hocus) decoding.readVarString(dec)
    const type = decoding.readVarUint(dec)
    if (type === 0) {
      const syncType = decoding.readVarUint(dec)
      const payload = decoding.readVarUint8Array(dec)
      if (syncType === 0) {
        // Server's state vector: answer with what we have that it lacks (like the stock client).
        send(message((enc) => {
          encoding.writeVarUint(enc, 0)
          syncProtocol.writeSyncStep2(enc, doc, payload)
        }))
      } else {
        if (syncType === 1) {
          if (!handle.isSynced) {
            handle.isSynced = true
            for (const fn of handle.syncFns) fn()
          }
          hooks.onStep2?.(payload, t)
        }
        scanUpdate(payload, t)
      }
    } else if (type === 1) {
      const update = decoding.createDecoder(decoding.readVarUint8Array(dec))
      const count = decoding.readVarUint(update)
      const echo = []
      for (let i = 0; i < count; i++) {
        const clientID = decoding.readVarUint(update)
        const clock = decoding.readVarUint(update)
        const json = decoding.readVarString(update)
        if (clientID === doc.clientID) continue
        if (opts.awarenessEcho && clock > (clocks.get(clientID) ?? -1)) {
          clocks.set(clientID, clock)
          echo.push([clientID, clock, json])
        }
        if (!json.includes('"cursor"')) continue
        const state = JSON.parse(json)
        if (state?.cursor) hooks.onCursor(clientID, state.cursor, t)
      }
      if (echo.length > 0) {
        // --awareness-echo: what the stock y-websocket client does, sending every remote
        // awareness change it applied (newer clock) straight back to the server.
        send(message((enc) => {
          encoding.writeVarUint(enc, 1)
          const inner = encoding.createEncoder()
          encoding.writeVarUint(inner, echo.length)
          for (const [id, clock, json] of echo) {
            encoding.writeVarUint(inner, id)
            encoding.writeVarUint(inner, clock)
            encoding.writeVarString(inner, json)
          }
          encoding.writeVarUint8Array(enc, encoding.toUint8Array(inner))
        }))
      }
    } else if (type === 3) {
      send(awarenessMessage([doc.clientID]))
    }
    // Other types (Hocuspocus auth replies, sync-status acks) need no answer.
  })

  handle.synced = () => handle.isSynced
  handle.onSynced = (fn) => handle.syncFns.push(fn)
  handle.destroy = () => { awareness.destroy(); ws.close() }
  return handle
}

/** Waits until `pred()` is true, checking every `everyMs`; false on timeout. */
async function waitFor (pred, timeoutMs, everyMs = 50) {
  const deadline = now() + timeoutMs
  while (now() < deadline) {
    if (pred()) return true
    await sleep(everyMs)
  }
  return pred()
}

const COLORS = ['#ffd966', '#a4c2f4', '#b6d7a8', '#ea9999', '#d5a6bd']

// ---------------------------------------------------------------------------------------------
// Steady workload

async function runSteady (opts) {
  const R = opts.rooms
  const C = opts.clients
  log(`[loadgen] ${opts.serverName} ${opts.workload}: ${R} room(s) x ${C} clients, ` +
      `${opts.cardRate} card ops/s + ${opts.cursorRate} cursor moves/s per client, ` +
      `warmup ${opts.warmup}s, window ${opts.duration}s, drain ${opts.drain}s`)
  const rooms = await setupRooms(opts, R, C)

  // Per sender (global index s): send times of its ops by sequence number. Per receiver:
  // highest sequence number seen from each sender of its room (index by in-room position).
  const N = R * C
  const docSend = Array.from({ length: N }, () => [])
  const curSend = Array.from({ length: N }, () => [])
  const docSeen = Array.from({ length: N }, () => new Int32Array(C).fill(-1))
  const curSeen = Array.from({ length: N }, () => new Int32Array(C).fill(-1))
  const clientIdToSender = new Map()

  // Window state, set when the phases start.
  let windowStart = Infinity
  let windowEnd = Infinity
  let recording = true
  const inWindow = (t) => t >= windowStart && t < windowEnd

  const docLat = new Samples()
  const curLat = new Samples()
  let curSuperseded = 0
  let docReceivedAll = 0
  let curReceivedAll = 0

  // Doc receipts. Yjs integrates a sender's updates strictly in clock order, so seeing that
  // sender's op k means ops 0..k have all arrived now, even when a server merged several into
  // one message (the text then only shows the newest op id).
  const recordDoc = (r, s, seq, t) => {
    if (!recording) return
    const rs = s % C
    const seen = docSeen[r]
    const sends = docSend[s]
    for (let j = seen[rs] + 1; j <= seq && j < sends.length; j++) {
      docReceivedAll++
      if (inWindow(sends[j])) docLat.push(t - sends[j])
      seen[rs] = j
    }
  }
  // Lite clients see raw messages, without Yjs' ordering guarantee: count exactly the op ids
  // found (a later op never vouches for an earlier one).
  const recordDocExact = (r, s, seq, t) => {
    // Servers may relay an update to its sender too (the stock client ignores it as a duplicate).
    if (!recording || s === r || Math.floor(s / C) !== Math.floor(r / C)) return
    const rs = s % C
    const seen = docSeen[r]
    const sends = docSend[s]
    if (seq <= seen[rs] || seq >= sends.length) return
    docReceivedAll++
    if (inWindow(sends[seq])) docLat.push(t - sends[seq])
    seen[rs] = seq
  }
  // Cursor receipts. Awareness is last-writer-wins: a server may legitimately coalesce two moves
  // of one client into the newer one. The newer move's receipt is a latency sample; the skipped
  // older ones count as "superseded" (delivered in effect, no latency sample).
  const recordCursor = (r, s, seq, sendT, t) => {
    if (!recording) return
    const rs = s % C
    const seen = curSeen[r]
    if (seq <= seen[rs]) return
    const sends = curSend[s]
    for (let j = seen[rs] + 1; j < seq && j < sends.length; j++) {
      if (inWindow(sends[j])) curSuperseded++
    }
    curReceivedAll++
    if (inWindow(sendT)) curLat.push(t - sendT)
    seen[rs] = seq
  }

  const parseOp = /^t:([\d.]+):(\d+)\.(\d+)$/
  // Full clients: receipts are what the application sees, after Yjs integrated the update.
  const observeFull = (handle, g) => {
    const cards = handle.cards
    cards.observeDeep((events, tr) => {
      if (tr.local) return
      const t = now()
      // Highest op id per sender touched by this transaction.
      const best = new Map()
      const consider = (text) => {
        const m = parseOp.exec(text)
        if (!m) return
        const s = Number(m[2]); const seq = Number(m[3])
        if ((best.get(s) ?? -1) < seq) best.set(s, seq)
      }
      for (const ev of events) {
        if (ev.target === cards) {
          for (const key of ev.keysChanged) {
            const card = cards.get(key)
            const text = card?.get('text')
            if (text) consider(text.toString())
          }
        } else if (ev.target instanceof Y.Text) {
          consider(ev.target.toString())
        }
      }
      for (const [s, seq] of best) recordDoc(g, s, seq, t)
    })
    handle.awareness.on('change', ({ added, updated }, origin) => {
      if (origin === 'local') return
      const t = now()
      const states = handle.awareness.getStates()
      for (const ids of [added, updated]) {
        for (const id of ids) {
          const cur = states.get(id)?.cursor
          const s = clientIdToSender.get(id)
          if (!cur || s === undefined || s === g || typeof cur.n !== 'number') continue
          recordCursor(g, s, cur.n, cur.t, t)
        }
      }
    })
  }

  const clients = new Array(N)
  const open = (r, c) => {
    const g = r * C + c
    const doc = new Y.Doc()
    clientIdToSender.set(doc.clientID, g)
    const cards = doc.getMap('cards')
    const lite = opts.clientMode === 'lite'
    const handle = lite
      ? openLiteClient(opts, rooms[r].name, rooms[r].tokens?.[c], doc, {
        onDoc: (s, seq, t) => recordDocExact(g, s, seq, t),
        onCursor: (id, cur, t) => {
          const s = clientIdToSender.get(id)
          if (s !== undefined && s !== g && typeof cur.n === 'number') recordCursor(g, s, cur.n, cur.t, t)
        }
      })
      : openClient(opts, rooms[r].name, rooms[r].tokens?.[c], doc)
    handle.index = g
    handle.cards = cards
    handle.ownCards = []
    handle.author = rooms[r].participants?.[c] ?? `bench-${g}`
    handle.cursor = { x: Math.random() * 2000, y: Math.random() * 1200 }
    handle.awareness.setLocalStateField('user', { name: `bench ${g}`, color: COLORS[g % COLORS.length] })
    if (!lite) observeFull(handle, g)
    clients[g] = handle
  }

  // --- connect: first one client per room (like a facilitator opening the room), then the rest
  // at once. pycrdt-websocket 0.16.5 leaves most connections of a burst hanging when they all
  // race to create the same new room; opening it first keeps that out of the steady figures
  // (the join-storm covers bursts into an existing room).
  const tConnect = now()
  for (let r = 0; r < R; r++) open(r, 0)
  await waitFor(() => rooms.every((_, r) => clients[r * C].synced()), opts.syncTimeout * 1000)
  for (let r = 0; r < R; r++) for (let c = 1; c < C; c++) open(r, c)

  // --- wait for everyone to sync
  const allSynced = await waitFor(() => clients.every((h) => h.synced()), opts.syncTimeout * 1000)
  const syncedCount = clients.filter((h) => h.synced()).length
  const syncSeconds = (now() - tConnect) / 1000
  log(`[loadgen] ${syncedCount}/${N} clients synced in ${syncSeconds.toFixed(2)}s` +
      (allSynced ? '' : ' (TIMEOUT: continuing with the synced ones as senders)'))
  // Let the initial awareness exchange settle before the first op (not part of any window).
  await sleep(500)

  // --- operations
  const cardOp = (h) => {
    const g = h.index
    const seq = docSend[g].length
    const t = now()
    docSend[g].push(t)
    const text = `t:${t.toFixed(3)}:${g}.${seq}`
    // 30 % new cards, else edit one of our own cards (replace its text), like people refining
    // their notes; the first op is always an add.
    if (h.ownCards.length === 0 || Math.random() < 0.3) {
      const id = `${g}-${h.ownCards.length}-${RUN_ID}`
      h.doc.transact(() => {
        const card = new Y.Map()
        card.set('text', new Y.Text(text))
        card.set('x', Math.round(Math.random() * 3000))
        card.set('y', Math.round(Math.random() * 2000))
        card.set('color', COLORS[g % COLORS.length])
        card.set('author', h.author)
        card.set('created', Math.round(t))
        h.cards.set(id, card)
      })
      h.ownCards.push(id)
    } else {
      const id = h.ownCards[Math.floor(Math.random() * h.ownCards.length)]
      const ytext = h.cards.get(id).get('text')
      h.doc.transact(() => {
        ytext.delete(0, ytext.length)
        ytext.insert(0, text)
      })
    }
  }
  const cursorOp = (h) => {
    const g = h.index
    const seq = curSend[g].length
    const t = now()
    curSend[g].push(t)
    h.cursor.x = Math.max(0, h.cursor.x + (Math.random() - 0.5) * 80)
    h.cursor.y = Math.max(0, h.cursor.y + (Math.random() - 0.5) * 80)
    h.awareness.setLocalStateField('cursor', { x: Math.round(h.cursor.x), y: Math.round(h.cursor.y), t, n: seq })
  }

  // Each client fires periodically at its rate, with a random phase (so 200 clients do not fire
  // in lockstep) and +-10 % jitter per interval.
  const timers = new Set()
  let running = true
  const schedule = (rate, fn) => {
    if (rate <= 0) return
    const period = 1000 / rate
    const tick = () => {
      if (!running) return
      fn()
      const t = setTimeout(tick, period * (0.9 + Math.random() * 0.2))
      timers.add(t)
    }
    timers.add(setTimeout(tick, Math.random() * period))
  }
  const senders = clients.filter((h) => h.synced())
  const tLoad = now()
  for (const h of senders) {
    schedule(opts.cardRate, () => cardOp(h))
    schedule(opts.cursorRate, () => cursorOp(h))
  }

  let progress = null
  if (opts.progress > 0) {
    progress = setInterval(() => {
      const phase = now() < windowStart ? 'warmup' : now() < windowEnd ? 'window' : 'drain'
      log(`[loadgen] +${((now() - tLoad) / 1000).toFixed(0)}s ${phase}: doc receipts ${docReceivedAll}, ` +
          `cursor receipts ${curReceivedAll}, disconnects ${clients.reduce((a, h) => a + h.disconnects, 0)}`)
    }, opts.progress * 1000)
  }

  await sleep(opts.warmup * 1000)
  const cpu = new CpuWindow(opts)
  cpu.start()
  windowStart = now()
  windowEnd = windowStart + opts.duration * 1000
  await sleep(opts.duration * 1000)
  const usage = cpu.stop()
  // Load continues through the drain, so the last window ops see the same server load as
  // the first ones; only their receipts are still counted.
  await sleep(opts.drain * 1000)
  recording = false
  running = false
  for (const t of timers) clearTimeout(t)
  if (progress) clearInterval(progress)

  // --- results
  let docOps = 0; let curOps = 0; let docOpsTotal = 0; let curOpsTotal = 0
  for (let g = 0; g < N; g++) {
    docOpsTotal += docSend[g].length
    curOpsTotal += curSend[g].length
    for (const t of docSend[g]) if (inWindow(t)) docOps++
    for (const t of curSend[g]) if (inWindow(t)) curOps++
  }
  const docExpected = docOps * (C - 1)
  const curExpected = curOps * (C - 1)
  const docSum = docLat.summary()
  const curSum = curLat.summary()
  const docDelivered = docSum.n
  const curDelivered = curSum.n + curSuperseded
  const frac = (a, b) => b > 0 ? Math.round(a / b * 10000) / 10000 : null
  const delivered = docDelivered + curDelivered
  const result = {
    server: opts.serverName,
    workload: opts.workload,
    url_style: opts.urlStyle,
    client_mode: opts.clientMode,
    rooms: R,
    clients: C,
    total_clients: N,
    clients_synced: syncedCount,
    sync_s: Math.round(syncSeconds * 100) / 100,
    card_rate: opts.cardRate,
    cursor_rate: opts.cursorRate,
    warmup_s: opts.warmup,
    duration_s: opts.duration,
    drain_s: opts.drain,
    deflate: opts.deflate,
    awareness_echo: opts.awarenessEcho,
    // Ops sent inside the window, and what the rates asked for (a shortfall means this
    // process could not keep up with its own timers).
    doc_ops_sent: docOps,
    doc_ops_target: Math.round(N * opts.cardRate * opts.duration),
    cursor_ops_sent: curOps,
    cursor_ops_target: Math.round(N * opts.cursorRate * opts.duration),
    doc_ops_sent_total: docOpsTotal,
    cursor_ops_sent_total: curOpsTotal,
    doc: { expected: docExpected, delivered: docDelivered, delivered_frac: frac(docDelivered, docExpected), latency_ms: docSum },
    cursor: {
      expected: curExpected,
      delivered: curDelivered,
      received_exact: curSum.n,
      superseded: curSuperseded,
      delivered_frac: frac(curDelivered, curExpected),
      latency_ms: curSum
    },
    ...usage,
    server_peak_rss_mib: procStatusMiB(opts.serverPid, 'VmHWM'),
    server_rss_end_mib: procStatusMiB(opts.serverPid, 'VmRSS'),
    loadgen_peak_rss_mib: procStatusMiB(process.pid, 'VmHWM'),
    delivered_updates: delivered,
    // Server CPU over the window divided by what it delivered for ops sent in that window.
    cpu_ms_per_delivered_update: usage.server_cpu_s === null || delivered === 0
      ? null
      : Math.round(usage.server_cpu_s * 1000 / delivered * 10000) / 10000,
    disconnects: clients.reduce((a, h) => a + h.disconnects, 0),
    date: new Date().toISOString()
  }
  for (const h of clients) { try { h.destroy() } catch {} }
  return result
}

// ---------------------------------------------------------------------------------------------
// Join storm

async function runJoinStorm (opts) {
  const M = opts.clients
  const K = opts.stormCards
  log(`[loadgen] ${opts.serverName} join-storm: seed ${K} cards, then ${M} clients connect at once`)
  // Room with tokens for the seeder, the verifier and the M joiners.
  const [room] = await setupRooms(opts, 1, M + 2)
  const seederDoc = new Y.Doc()
  const seeder = openClient(opts, room.name, room.facilitatorToken ?? room.tokens?.[M], seederDoc)
  seeder.awareness.setLocalStateField('user', { name: 'seeder', color: COLORS[0] })
  if (!await waitFor(() => seeder.synced(), opts.syncTimeout * 1000)) throw new Error('seeder did not sync')

  // Seed in batches: one transaction = one update message, like a facilitator importing notes.
  const tSeed = now()
  const cards = seederDoc.getMap('cards')
  for (let i = 0; i < K; i += opts.stormBatch) {
    seederDoc.transact(() => {
      for (let j = i; j < Math.min(K, i + opts.stormBatch); j++) {
        const card = new Y.Map()
        card.set('text', new Y.Text(`Idea ${j}: a sticky note with a sentence of text on it`))
        card.set('x', (j % 100) * 220)
        card.set('y', Math.floor(j / 100) * 160)
        card.set('color', COLORS[j % COLORS.length])
        card.set('author', `p_seed${j % 20}`)
        card.set('created', Date.now())
        cards.set(`sk:${j}`, card)
      }
    })
    await sleep(20) // let the socket drain between batches
  }
  const updateBytes = Y.encodeStateAsUpdate(seederDoc).length

  // A second client proves the server holds all K cards before the storm starts.
  const verifierDoc = new Y.Doc()
  const verifier = openClient(opts, room.name, room.tokens?.[M + 1], verifierDoc)
  const seeded = await waitFor(() => verifier.synced() && verifierDoc.getMap('cards').size >= K,
    opts.stormTimeout * 1000, 100)
  const seedSeconds = (now() - tSeed) / 1000
  log(`[loadgen] seeded ${verifierDoc.getMap('cards').size}/${K} cards (${(updateBytes / 1024).toFixed(0)} KiB as one update) in ${seedSeconds.toFixed(2)}s`)
  verifier.destroy()
  if (!seeded) throw new Error('the server did not confirm the seeded cards in time')
  await sleep(1000) // let the server settle (and, for Hocuspocus, the verifier's unload)

  // --- the storm
  const cpu = new CpuWindow(opts)
  cpu.start()
  const t0 = now()
  const doneAt = new Array(M).fill(null)
  const joiners = []
  for (let i = 0; i < M; i++) {
    const doc = new Y.Doc()
    let h
    if (opts.clientMode === 'lite') {
      // Lite joiners do not build the 5,000-card document (a ~100 ms job per client that a
      // browser does on its own core, and that would serialise 100 clients in this process).
      // They count the card keys in the sync step 2 they receive: every card's key is written
      // once into the update, and nothing else in this room contains "sk:".
      const marker = Buffer.from('sk:')
      h = openLiteClient(opts, room.name, room.tokens?.[i], doc, {
        onDoc: () => {},
        onCursor: () => {},
        onStep2: (payload, t) => {
          const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
          let n = 0
          for (let at = buf.indexOf(marker); at !== -1; at = buf.indexOf(marker, at + 3)) n++
          if (doneAt[i] === null && n >= K) doneAt[i] = t
        }
      })
    } else {
      const map = doc.getMap('cards')
      h = openClient(opts, room.name, room.tokens?.[i], doc)
      const check = () => {
        if (doneAt[i] === null && h.synced() && map.size >= K) doneAt[i] = now()
      }
      h.onSynced(check)
      map.observe(check)
    }
    h.awareness.setLocalStateField('user', { name: `joiner ${i}`, color: COLORS[i % COLORS.length] })
    joiners.push(h)
  }
  await waitFor(() => doneAt.every((t) => t !== null), opts.stormTimeout * 1000, 20)
  const usage = cpu.stop()
  const done = doneAt.filter((t) => t !== null)
  const per = new Samples()
  for (const t of done) per.push(t - t0)
  const s = per.summary()
  const result = {
    server: opts.serverName,
    workload: 'join-storm',
    url_style: opts.urlStyle,
    client_mode: opts.clientMode,
    rooms: 1,
    clients: M,
    cards: K,
    deflate: opts.deflate,
    doc_update_kib: Math.round(updateBytes / 1024),
    seed_s: Math.round(seedSeconds * 100) / 100,
    joined: done.length,
    all_synced_s: done.length === M ? Math.round((Math.max(...done) - t0)) / 1000 : null,
    per_client_ms: s,
    ...usage,
    server_peak_rss_mib: procStatusMiB(opts.serverPid, 'VmHWM'),
    server_rss_end_mib: procStatusMiB(opts.serverPid, 'VmRSS'),
    loadgen_peak_rss_mib: procStatusMiB(process.pid, 'VmHWM'),
    disconnects: joiners.reduce((a, h) => a + h.disconnects, 0),
    date: new Date().toISOString()
  }
  for (const h of joiners) { try { h.destroy() } catch {} }
  seeder.destroy()
  return result
}

// ---------------------------------------------------------------------------------------------
// Report

function printTable (res) {
  const f = (v, d = 1) => v === null || v === undefined ? '-' : typeof v === 'number' ? v.toFixed(d) : String(v)
  const lines = []
  if (res.workload === 'join-storm') {
    lines.push(`join-storm on ${res.server}: ${res.clients} ${res.client_mode} clients, ${res.cards} cards (${res.doc_update_kib} KiB)`)
    lines.push(`  joined            ${res.joined}/${res.clients}`)
    lines.push(`  all synced after  ${f(res.all_synced_s, 2)} s`)
    lines.push(`  per client ms     p50 ${f(res.per_client_ms.p50, 0)}  p99 ${f(res.per_client_ms.p99, 0)}  max ${f(res.per_client_ms.max, 0)}`)
  } else {
    const row = (name, x, sent, target) =>
      `  ${name.padEnd(7)} ${String(sent).padStart(7)}/${String(target).padEnd(7)} ` +
      `${f(x.delivered_frac === null ? null : x.delivered_frac * 100, 2).padStart(7)} % ` +
      `${f(x.latency_ms.p50).padStart(8)} ${f(x.latency_ms.p95).padStart(8)} ${f(x.latency_ms.p99).padStart(8)} ${f(x.latency_ms.max).padStart(8)}`
    lines.push(`${res.workload} on ${res.server}: ${res.rooms} x ${res.clients} ${res.client_mode} clients (${res.clients_synced} synced), window ${res.duration_s}s`)
    lines.push('  kind    sent/target   delivered      p50      p95      p99      max  (ms)')
    lines.push(row('doc', res.doc, res.doc_ops_sent, res.doc_ops_target))
    lines.push(row('cursor', res.cursor, res.cursor_ops_sent, res.cursor_ops_target))
    lines.push(`  cpu per delivered update: ${f(res.cpu_ms_per_delivered_update, 4)} ms  (cursor superseded: ${res.cursor.superseded}, disconnects: ${res.disconnects})`)
  }
  lines.push(`  server   cpu ${f(res.server_cpu_s, 2)} s (${f(res.server_cpu_pct)} % of a core), peak RSS ${f(res.server_peak_rss_mib)} MiB`)
  lines.push(`  loadgen  cpu ${f(res.loadgen_cpu_s, 2)} s (${f(res.loadgen_cpu_pct)} % of a core), loop delay p99 ${f(res.loadgen_loop_delay_p99_ms)} ms, max ${f(res.loadgen_loop_delay_max_ms)} ms`)
  lines.push(`  other    cpu ${f(res.other_cpu_pct)} % of a core (rest of the machine during the window)`)
  log(lines.join('\n'))
}

async function main () {
  // Every y-websocket provider adds a process 'exit' listener; hundreds of them are expected.
  process.setMaxListeners(0)
  let opts
  try { opts = parseArgs(process.argv.slice(2)) } catch (e) { log(e.message); process.exit(2) }
  // Every phase has its own timeout; this is the last line of defence for a hung run.
  const budget = opts.workload === 'join-storm'
    ? opts.syncTimeout + 2 * opts.stormTimeout + 60
    : opts.syncTimeout + opts.warmup + opts.duration + opts.drain + 120
  setTimeout(() => { log('[loadgen] overall time budget exceeded, aborting'); process.exit(3) }, budget * 1000).unref()

  const result = opts.workload === 'join-storm' ? await runJoinStorm(opts) : await runSteady(opts)
  printTable(result)
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n')
  // Providers keep timers and sockets; we are done measuring, so leave right away.
  setTimeout(() => process.exit(0), 200)
}

main().catch((e) => { log('[loadgen] failed:', e?.stack ?? e); process.exit(1) })
