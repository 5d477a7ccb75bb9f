"""Room lifecycle, connections and fan-out: the asyncio shell around `server.crdt`."""
