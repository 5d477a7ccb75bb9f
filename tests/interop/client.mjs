// One real Yjs client for the interop tests: stock `yjs` + the npm `y-websocket`
// WebsocketProvider, with `ws` as its WebSocket (Node 20 has no global WebSocket).
//
// Usage:
//   node client.mjs --url ws://127.0.0.1:PORT/ws/rooms --room ROOM --token TOKEN
//                   [--label NAME] [--lifetime SECONDS]
// (or KOPRADE_WS_URL, KOPRADE_ROOM, KOPRADE_TOKEN, KOPRADE_LABEL, KOPRADE_LIFETIME).
//
// The scenario is driven step by step by the test: one JSON command per line on stdin,
// one JSON event per line on stdout. Every command gets {"event":"ack","seq":..} (or
// {"event":"error",..}) once it is done. Events:
//   ready     {client_id, url}                       once, before connecting
//   status    {status: connecting|connected|disconnected}
//   synced    {synced: bool}
//   closed    {code, reason}                         the socket closed (server or network)
//   board     {cards, clusters, origin}              after every document change, and on dump
//   awareness {states: {clientId: state}, self}     after every awareness change, and on dump
//   exit      {reason}                               last line before a clean exit
// Commands ("seq" is optional and echoed in the ack):
//   {"op":"add_card","id","text","x","y","color","author"}  a card per docs/protocol.md §4
//   {"op":"edit_text","id","append"} | {"op":"edit_text","id","insert","index"}
//   {"op":"move_card","id","x","y"}
//   {"op":"set_presence","state":{...}|null}    the whole awareness state
//   {"op":"set_cursor","x","y"}                 awareness field `cursor`
//   {"op":"disconnect"} / {"op":"connect"}      provider.disconnect() / provider.connect()
//   {"op":"dump"}                               emit board, awareness and status now
//   {"op":"quit"}                               provider.destroy(), then exit 0
// The process never lingers: it exits after --lifetime seconds (default 60), when stdin
// closes (the test process died) and on quit; the socket close on quit is bounded (2 s).

import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.KOPRADE_WS_URL },
    room: { type: 'string', default: process.env.KOPRADE_ROOM },
    token: { type: 'string', default: process.env.KOPRADE_TOKEN },
    label: { type: 'string', default: process.env.KOPRADE_LABEL ?? 'node' },
    lifetime: { type: 'string', default: process.env.KOPRADE_LIFETIME ?? '60' }
  }
})
if (!args.url || !args.room || !args.token) {
  process.stderr.write('client.mjs: --url, --room and --token are required\n')
  process.exit(2)
}
const LIFETIME_MS = Math.max(1, Number(args.lifetime)) * 1000
const CLOSE_WAIT_MS = 2000

/** One JSON line on stdout (synchronous for pipes on Linux, so nothing is lost on exit). */
const emit = (event, fields = {}) => {
  const line = JSON.stringify({ event, label: args.label, ...fields }, (_key, value) =>
    typeof value === 'bigint' ? Number(value) : value
  )
  process.stdout.write(line + '\n')
}

const doc = new Y.Doc()
const cards = doc.getMap('cards')
const clusters = doc.getMap('clusters')
const provider = new WebsocketProvider(args.url, args.room, doc, {
  connect: false,
  params: { token: args.token },
  WebSocketPolyfill: WebSocket,
  disableBc: true, // every byte goes through the server, as between two real machines
  maxBackoffTime: 500
})
const awareness = provider.awareness

const boardEvent = (origin) =>
  emit('board', { cards: cards.toJSON(), clusters: clusters.toJSON(), origin })
const awarenessEvent = () =>
  emit('awareness', {
    self: doc.clientID,
    states: Object.fromEntries(awareness.getStates())
  })

doc.on('update', (_update, origin) => boardEvent(origin === provider ? 'remote' : 'local'))
awareness.on('change', awarenessEvent)
provider.on('status', ({ status }) => emit('status', { status }))
provider.on('sync', (synced) => emit('synced', { synced }))
provider.on('connection-close', (event) => {
  if (event) emit('closed', { code: event.code, reason: String(event.reason ?? '') })
})
provider.on('connection-error', (event) =>
  emit('connection_error', { message: String(event?.message ?? event?.type ?? event) })
)

/** @returns {Y.Map<any>} */
const cardById = (id) => {
  const card = cards.get(id)
  if (!(card instanceof Y.Map)) throw new Error(`no card ${JSON.stringify(id)}`)
  return card
}

const commands = {
  add_card ({ id, text = '', x = 0, y = 0, color = '#ffd966', author = '' }) {
    if (typeof id !== 'string' || id === '') throw new Error('add_card needs an id')
    doc.transact(() => {
      const card = new Y.Map()
      card.set('text', new Y.Text(text))
      card.set('x', x)
      card.set('y', y)
      card.set('color', color)
      card.set('author', author)
      card.set('created', Date.now())
      cards.set(id, card)
    })
  },
  edit_text ({ id, append, insert, index }) {
    const text = cardById(id).get('text')
    if (!(text instanceof Y.Text)) throw new Error(`card ${id} has no Y.Text`)
    if (typeof append === 'string') text.insert(text.length, append)
    if (typeof insert === 'string') text.insert(Math.min(index ?? 0, text.length), insert)
  },
  move_card ({ id, x, y }) {
    const card = cardById(id)
    doc.transact(() => {
      card.set('x', x)
      card.set('y', y)
    })
  },
  set_presence ({ state = null }) {
    awareness.setLocalState(state)
  },
  set_cursor ({ x, y }) {
    awareness.setLocalStateField('cursor', { x, y })
  },
  disconnect () {
    provider.disconnect()
  },
  connect () {
    provider.connect()
  },
  dump () {
    boardEvent('dump')
    awarenessEvent()
    emit('status', { status: provider.wsconnected ? 'connected' : 'disconnected' })
    emit('synced', { synced: provider.synced })
  }
}

let exiting = false
const shutdown = (reason, code = 0) => {
  if (exiting) return
  exiting = true
  const socket = provider.ws
  // destroy(): awareness `null` for our client id, then a close frame. Wait (bounded) for
  // the socket to finish closing so both really leave the machine before we exit.
  provider.destroy()
  const finish = () => {
    emit('exit', { reason })
    process.exit(code)
  }
  if (socket && socket.readyState !== WebSocket.CLOSED) {
    socket.once('close', finish)
    setTimeout(finish, CLOSE_WAIT_MS).unref()
  } else {
    finish()
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
lines.on('line', (line) => {
  if (!line.trim() || exiting) return
  let command
  try {
    command = JSON.parse(line)
  } catch (error) {
    emit('error', { message: `not JSON: ${error.message}`, line })
    return
  }
  const { op, seq = null } = command
  if (op === 'quit') {
    emit('ack', { op, seq })
    shutdown('quit')
    return
  }
  const handler = Object.hasOwn(commands, op) ? commands[op] : null
  if (handler === null) {
    emit('error', { op, seq, message: `unknown op ${JSON.stringify(op)}` })
    return
  }
  try {
    handler(command)
    emit('ack', { op, seq })
  } catch (error) {
    emit('error', { op, seq, message: String(error?.message ?? error) })
  }
})
lines.on('close', () => shutdown('stdin closed'))

setTimeout(() => shutdown('lifetime', 3), LIFETIME_MS).unref()
process.on('SIGTERM', () => shutdown('SIGTERM'))

emit('ready', { client_id: doc.clientID, url: provider.url })
provider.connect()
