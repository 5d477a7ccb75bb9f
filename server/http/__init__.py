"""The HTTP edge: requests in, JSON out; the only place that knows about status codes.

One module per concern (docs/architecture.md, "Layout"); `routes.py` lists every URL and
`errors.py` is the one mapping from domain errors to HTTP.
"""
