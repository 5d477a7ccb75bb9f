// Hocuspocus peer for the benchmark: in memory, no extensions, no auth.
// Usage: HOST=127.0.0.1 PORT=1234 node peers/hocuspocus.mjs
// Prints "listening ws://HOST:PORT" once the socket is bound, so the runner can wait for it.
import { Server } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = Number.parseInt(process.env.PORT || '1234', 10)

const server = new Server({
  address: host,
  port,
  quiet: true,
  // The runner stops us with SIGTERM; let Hocuspocus close its sockets itself.
  stopOnSignals: true
})

await server.listen()
console.log(`listening ws://${host}:${port}`)
