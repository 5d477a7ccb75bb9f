"""Pure protocol and document logic: bytes and pycrdt documents in, bytes out, no I/O.

Everything here is testable without sockets; `server.rooms` is the asyncio shell around it.
"""
