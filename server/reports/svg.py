"""The board as an SVG picture: clusters as titled frames, cards as coloured notes.

Built with ElementTree, so every text and attribute is escaped as XML; the font (a subset
of the bundled DejaVu Sans with just the characters the board uses) is embedded, so the
picture looks the same in every viewer, Latvian letters included.
"""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from functools import lru_cache

from server.reports import layout as L
from server.reports.model import Report

SVG_NS = "http://www.w3.org/2000/svg"
FONT_FAMILY = "KopradeSans"
FONT_STACK = f"{FONT_FAMILY}, 'DejaVu Sans', Verdana, sans-serif"


@lru_cache(maxsize=32)
def _font_subset(bold: bool, characters: str) -> str:
    """Base64 TrueType of the bundled font, cut down to `characters` (names kept)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.name_IDs = ["*"]  # keep the copyright and licence names with the glyphs
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.layout_features = ["*"]
    options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing a viewer needs
    font = TTFont(str(L.BOLD_FONT if bold else L.REGULAR_FONT))
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters + " " + L.ELLIPSIS)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str | float) -> ET.Element:
    element = ET.SubElement(
        parent,
        tag,
        {
            key.rstrip("_").replace("_", "-"): _num(value)
            if isinstance(value, float)
            else str(value)
            for key, value in attrs.items()
        },
    )
    if text is not None:
        element.text = text
    return element


def _font_faces(board: L.BoardLayout) -> str:
    regular = {board.subtitle, board.empty_text}
    bold = {board.title}
    for frame in board.frames:
        bold.add(frame.title)
    for note in board.notes:
        regular.update(note.lines)
        bold.add(note.author)
        if note.votes:
            bold.add(str(note.votes))
    faces = []
    for is_bold, texts in ((False, regular), (True, bold)):
        characters = "".join(sorted(set("".join(texts))))
        data = _font_subset(is_bold, characters)
        faces.append(
            f"@font-face{{font-family:{FONT_FAMILY};font-weight:{700 if is_bold else 400};"
            f"src:url(data:font/ttf;base64,{data}) format('truetype')}}"
        )
    return "".join(faces)


def board_svg_tree(report: Report, board: L.BoardLayout, embed_font: bool = True) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": " ".join(
                _num(v) for v in (board.left, board.top, board.width, board.height)
            ),
            "width": _num(board.width),
            "height": _num(board.height),
            "font-family": FONT_STACK,
            "role": "img",
            "aria-label": f"{report.labels['board']}: {report.title}",
        },
    )
    _el(svg, "title", f"{report.title} — {report.date}" if report.date else report.title)
    if embed_font:
        _el(svg, "style", _font_faces(board))
    _el(svg, "rect", x=board.left, y=board.top, width=board.width, height=board.height,
        fill=L.BACKGROUND)  # fmt: skip

    header = _el(svg, "g", class_="header")
    left = board.left + L.MARGIN
    _el(header, "text", board.title, x=left, y=board.top + L.MARGIN,
        font_size=L.HEADER_TITLE_SIZE, font_weight="700", fill=L.INK)  # fmt: skip
    _el(header, "text", board.subtitle, x=left, y=board.top + L.MARGIN + 28.0,
        font_size=L.HEADER_SUB_SIZE, fill=L.INK_2)  # fmt: skip
    if board.empty_text:
        _el(svg, "text", board.empty_text, x=board.width / 2, y=L.EMPTY_H / 2,
            font_size=18.0, fill=L.INK_2, text_anchor="middle")  # fmt: skip

    frames = _el(svg, "g", class_="clusters")
    for frame in board.frames:
        group = _el(frames, "g", class_="cluster")
        _el(group, "rect", x=frame.x, y=frame.y, width=frame.w, height=frame.h,
            rx=L.CLUSTER_RADIUS, fill=L.FRAME_FILL, fill_opacity=str(L.FRAME_FILL_OPACITY),
            stroke=L.FRAME_STROKE, stroke_width="2", stroke_dasharray="8 6")  # fmt: skip
        _el(group, "text", frame.title, x=frame.x + L.CLUSTER_TITLE_X,
            y=frame.y + L.CLUSTER_TITLE_BASELINE, font_size=L.CLUSTER_TITLE_SIZE,
            font_weight="700", fill=L.INK_2 if frame.untitled else L.INK)  # fmt: skip

    notes = _el(svg, "g", class_="cards")
    for note in board.notes:
        group = _el(notes, "g", class_="card")
        _el(group, "rect", x=note.x + 1, y=note.y + 2, width=note.w, height=note.h,
            rx=L.CARD_RADIUS, fill="#000000", fill_opacity="0.12")  # fmt: skip
        _el(group, "rect", x=note.x, y=note.y, width=note.w, height=note.h,
            rx=L.CARD_RADIUS, fill=note.color)  # fmt: skip
        text = _el(group, "text", font_size=L.TEXT_SIZE, fill=L.INK)
        for index, line in enumerate(note.lines):
            top = note.y + L.CARD_PAD_Y + index * L.LINE_HEIGHT
            _el(text, "tspan", line, x=note.x + L.CARD_PAD_X,
                y=L.baseline(top, L.LINE_HEIGHT, L.TEXT_SIZE))  # fmt: skip
        if note.author:
            top = note.y + note.h - L.CARD_PAD_Y - L.AUTHOR_LINE
            _el(group, "text", note.author, x=note.x + L.CARD_PAD_X,
                y=L.baseline(top, L.AUTHOR_LINE, L.AUTHOR_SIZE), font_size=L.AUTHOR_SIZE,
                font_weight="700", fill=L.INK_2)  # fmt: skip
        if note.votes:
            cx, cy = note.x + note.w - 4, note.y + 4
            badge = _el(group, "g", class_="votes")
            _el(badge, "circle", cx=cx, cy=cy, r=L.BADGE_RADIUS, fill=L.BADGE_FILL,
                stroke="#ffffff", stroke_width="2")  # fmt: skip
            _el(badge, "text", str(note.votes), x=cx, y=cy + 0.36 * L.BADGE_SIZE,
                font_size=L.BADGE_SIZE, font_weight="700", fill="#ffffff",
                text_anchor="middle")  # fmt: skip
    return svg


def render_svg(report: Report) -> bytes:
    board = L.layout_board(report)
    tree = board_svg_tree(report, board)
    # typeshed types tostring's result as Any for any encoding but "unicode"; "utf-8" is bytes.
    svg: bytes = ET.tostring(tree, encoding="utf-8", xml_declaration=True)
    return svg
