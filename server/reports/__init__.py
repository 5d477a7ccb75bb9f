"""Board exports in every format, and import: pure functions over the JSON export.

`render(fmt, export)` turns a board's JSON export (`server.exports.export_json`, documented
in docs/protocol.md section 4) into the bytes of one format; `import_board` writes an export
back into a board. The HTTP API and the CLI both use these; nothing here does I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.reports.importer import BoardExport, InvalidExport, import_board, read_export
from server.reports.model import LANGUAGES, apply_room_rules, build_report, json_object

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "BoardExport",
    "InvalidExport",
    "apply_room_rules",
    "export_filename",
    "import_board",
    "read_export",
    "render",
]


@dataclass(frozen=True)
class Format:
    media_type: str
    extension: str
    binary: bool


FORMATS: dict[str, Format] = {
    "json": Format("application/json", "json", False),
    "md": Format("text/markdown; charset=utf-8", "md", False),
    "csv": Format("text/csv; charset=utf-8", "csv", False),
    "svg": Format("image/svg+xml", "svg", False),
    "png": Format("image/png", "png", True),
    "pdf": Format("application/pdf", "pdf", True),
}


def _json(export: dict[str, Any], lang: str) -> bytes:
    return (json.dumps(apply_room_rules(export), ensure_ascii=False, indent=2) + "\n").encode()


def _renderer(fmt: str) -> Callable[[dict[str, Any], str], bytes]:
    # Imported on use: the picture formats load Pillow, fontTools and fpdf2.
    if fmt == "json":
        return _json
    if fmt == "md":
        from server.reports.text import render_markdown

        return lambda export, lang: render_markdown(build_report(export, lang))
    if fmt == "csv":
        from server.reports.text import render_csv

        return lambda export, lang: render_csv(build_report(export, lang))
    if fmt == "svg":
        from server.reports.svg import render_svg

        return lambda export, lang: render_svg(build_report(export, lang))
    if fmt == "png":
        from server.reports.raster import render_png

        return lambda export, lang: render_png(build_report(export, lang))
    if fmt == "pdf":
        from server.reports.pdf import render_pdf

        return lambda export, lang: render_pdf(build_report(export, lang))
    raise ValueError(f"unknown export format {fmt!r}")


def render(fmt: str, export: dict[str, Any], lang: str = "en") -> bytes:
    """The export in format `fmt` (a key of FORMATS); `lang` (en, lv) for the words around.

    CPU-bound (PNG and PDF take tens to hundreds of milliseconds): the server runs it in a
    worker thread. Renders run one at a time (FreeType faces are not thread-safe).
    """
    from server.reports.layout import render_lock

    renderer = _renderer(fmt)
    with render_lock:
        return renderer(export, lang)


def slug(title: str, limit: int = 60) -> str:
    """`Mobilitāte senioriem!` -> `mobilitate-senioriem` (ASCII, for file names)."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return text[:limit].rstrip("-") or "koprade-board"


def export_filename(export: dict[str, Any], extension: str) -> str:
    """`<title-slug>-<date>.<ext>`, the date being the day the room was created."""
    room = json_object(export.get("room"))
    created = room.get("created")
    created = created if isinstance(created, str) else ""
    date = created[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", created) else ""
    stem = slug(str(room.get("title") or ""))
    return f"{stem}-{date}.{extension}" if date else f"{stem}.{extension}"
