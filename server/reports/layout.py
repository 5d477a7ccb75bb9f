"""Where everything goes in a picture of the board: one layout for the SVG and the PNG.

Sizes follow the web client's CSS (web/src/styles.css): cards 200 px wide and at least
110 px tall with 12/14 px padding and 16 px text at 1.35 line height, the author's name in
13 px bold below, clusters as dashed frames with a 20 px bold title. Text is wrapped here,
measured with the bundled DejaVu Sans (server/reports/fonts, the font every format uses),
so the SVG, the PNG and the PDF's board image break lines at the same places.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from server.reports.model import Report

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"

CARD_W = 200.0
CARD_MIN_H = 110.0
CARD_PAD_X = 14.0
CARD_PAD_Y = 12.0
CARD_RADIUS = 6.0
TEXT_SIZE = 16.0
LINE_HEIGHT = 16.0 * 1.35
AUTHOR_SIZE = 13.0
AUTHOR_GAP = 8.0
AUTHOR_LINE = 17.0
MAX_CARD_LINES = 30

CLUSTER_MIN_W = 120.0
CLUSTER_MIN_H = 80.0
CLUSTER_RADIUS = 14.0
CLUSTER_TITLE_SIZE = 20.0
CLUSTER_TITLE_X = 16.0  # from the frame's left edge
CLUSTER_TITLE_BASELINE = 36.0  # from the frame's top edge

BADGE_RADIUS = 15.0
BADGE_SIZE = 14.0

HEADER_TITLE_SIZE = 28.0
HEADER_SUB_SIZE = 15.0
HEADER_H = 84.0
MARGIN = 40.0
EMPTY_W, EMPTY_H = 480.0, 160.0

BACKGROUND = "#f3f4f6"
INK = "#1a1c1e"
INK_2 = "#3d4248"
FRAME_STROKE = "#5d6874"
FRAME_FILL = "#ffffff"
FRAME_FILL_OPACITY = 0.55
BADGE_FILL = "#0b57d0"
ELLIPSIS = "…"

# Pillow's FreeType faces are not safe to share between threads; renders run one at a time.
render_lock = threading.Lock()


@lru_cache(maxsize=64)
def font(size: float, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD_FONT if bold else REGULAR_FONT), size=max(1, round(size)))


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Advance width in px at `size` (measured at 10x and scaled, for sub-pixel accuracy)."""
    return font(size * 10, bold).getlength(text) / 10


def _break_word(word: str, size: float, width: float, bold: bool) -> list[str]:
    """A word too long for a line, cut anywhere (CSS overflow-wrap: anywhere)."""
    pieces, current = [], ""
    for char in word:
        if current and text_width(current + char, size, bold) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    return [*pieces, current] if current else pieces


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    """Lines of `text` no wider than `width`; explicit line breaks are kept."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        current = ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if text_width(candidate, size, bold) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            if text_width(word, size, bold) <= width:
                current = word
            else:
                *full, current = _break_word(word, size, width, bold) or [""]
                lines.extend(full)
        lines.append(current.rstrip())
    return lines


def fit(text: str, size: float, width: float, bold: bool = False) -> str:
    """One line, cut with an ellipsis if it is too wide."""
    if text_width(text, size, bold) <= width:
        return text
    while text and text_width(text + ELLIPSIS, size, bold) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


@dataclass
class Frame:
    x: float
    y: float
    w: float
    h: float
    title: str  # fitted to the frame's width
    untitled: bool


@dataclass
class Note:
    x: float
    y: float
    w: float
    h: float
    color: str
    lines: list[str]
    author: str  # fitted; "" for none
    votes: int | None  # the badge; None when results are not shown


@dataclass
class BoardLayout:
    left: float  # the picture's viewBox: left, top, width, height in board coordinates
    top: float
    width: float
    height: float
    title: str
    subtitle: str
    frames: list[Frame]
    notes: list[Note]
    empty_text: str  # shown when the board has nothing on it


def layout_board(report: Report) -> BoardLayout:
    frames = []
    for cluster in sorted(report.clusters, key=lambda c: (-(c.w * c.h), c.id)):
        w, h = max(CLUSTER_MIN_W, cluster.w), max(CLUSTER_MIN_H, cluster.h)
        title = report.cluster_label(cluster)
        frames.append(
            Frame(
                cluster.x,
                cluster.y,
                w,
                h,
                fit(title, CLUSTER_TITLE_SIZE, w - 2 * CLUSTER_TITLE_X, bold=True),
                untitled=not cluster.title.strip(),
            )
        )
    notes = []
    inner = CARD_W - 2 * CARD_PAD_X
    # Later cards lie on top, as on the board.
    for card in sorted(report.cards, key=lambda c: (c.created or 0, c.id)):
        lines = wrap(card.text, TEXT_SIZE, inner) if card.text else [""]
        if len(lines) > MAX_CARD_LINES:
            lines = lines[:MAX_CARD_LINES]
            lines[-1] = fit(lines[-1] + ELLIPSIS, TEXT_SIZE, inner)
        author = fit(card.author, AUTHOR_SIZE, inner, bold=True) if card.author else ""
        height = 2 * CARD_PAD_Y + len(lines) * LINE_HEIGHT
        if author:
            height += AUTHOR_GAP + AUTHOR_LINE
        notes.append(
            Note(
                card.x,
                card.y,
                CARD_W,
                max(CARD_MIN_H, height),
                card.color,
                lines,
                author,
                card.votes if report.results_visible else None,
            )
        )

    boxes = [(f.x, f.y, f.x + f.w, f.y + f.h) for f in frames]
    for note in notes:
        right_edge = note.x + note.w + (BADGE_RADIUS if note.votes else 0)
        boxes.append(
            (note.x, note.y - (BADGE_RADIUS if note.votes else 0), right_edge, note.y + note.h)
        )
    subtitle_parts = [report.date]
    if report.phase:
        subtitle_parts.append(f"{report.labels['phase']}: {report.phase}")
    subtitle_parts.append(f"{report.labels['cards']}: {len(report.cards)}")
    subtitle = " · ".join(part for part in subtitle_parts if part)
    if boxes:
        left = min(b[0] for b in boxes) - MARGIN
        top = min(b[1] for b in boxes) - MARGIN - HEADER_H
        right = max(b[2] for b in boxes) + MARGIN
        bottom = max(b[3] for b in boxes) + MARGIN
    else:
        left, top, right, bottom = 0.0, -HEADER_H, EMPTY_W, EMPTY_H
    header_w = max(
        text_width(report.title, HEADER_TITLE_SIZE, bold=True),
        text_width(subtitle, HEADER_SUB_SIZE),
    )
    right = max(right, left + 2 * MARGIN + min(header_w, 1600.0))
    title = fit(report.title, HEADER_TITLE_SIZE, right - left - 2 * MARGIN, bold=True)
    return BoardLayout(
        left=left,
        top=top,
        width=right - left,
        height=bottom - top,
        title=title,
        subtitle=subtitle,
        frames=frames,
        notes=notes,
        empty_text=report.labels["empty"] if not boxes else "",
    )


# Baselines inside a line box (CSS centres the glyphs in the line height): DejaVu's ascent
# is 0.928 em and its descent 0.236 em.
def baseline(top: float, line_height: float, size: float) -> float:
    return top + (line_height - 1.164 * size) / 2 + 0.928 * size
