"""Parsing untrusted JSON with a bounded nesting depth.

Every JSON a client sends (HTTP bodies, imports, awareness states) is parsed here.
`json.loads` recurses once per nesting level, so a few thousand `[` raise `RecursionError`
deep inside the standard library; pydantic_core's parser (Rust) refuses input nested deeper
than its fixed limit of about 200 levels with a plain `ValueError` instead, and is also
faster than `json.loads` on the small objects of the hot awareness path
(docs/benchmarks.md, "Bounded JSON"). No document Koprade accepts comes near that depth:
an export is five levels deep.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json


class InvalidJson(ValueError):
    """Not JSON, or JSON nested deeper than the parser allows (`too_deep`)."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


def loads(data: bytes | bytearray | str) -> Any:
    """Parse JSON (UTF-8); raises InvalidJson. NaN and Infinity parse as floats, as in
    `json.loads`: the models that read numbers refuse them where a number must be finite."""
    try:
        return from_json(data, allow_inf_nan=True)
    except ValueError as exc:
        if str(exc).startswith("recursion limit exceeded"):
            raise InvalidJson("nested too deeply", too_deep=True) from exc
        raise InvalidJson(f"not valid JSON ({exc})") from exc
