"""The board as a PNG: the SVG's layout (layout.py) drawn with Pillow.

Pillow is a wheel with FreeType inside, so the server needs no system library to draw, and
the bundled DejaVu Sans gives every Latvian letter. The picture is drawn at twice the board's
size for sharp text, less for large boards (at most MAX_SIDE pixels on a side).
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFilter

from server.reports import layout as L
from server.reports.model import Report

MAX_SIDE = 4000
MAX_PIXELS = 12_000_000
DEFAULT_SCALE = 2.0


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def _dashed_rounded_rect(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    radius: float,
    color: tuple[int, int, int],
    width: int,
    dash: float,
    gap: float,
) -> None:
    """A dashed outline along straight edges and quarter arcs (Pillow has no dashes)."""
    x0, y0, x1, y1 = box
    radius = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)

    def dashes(ax: float, ay: float, bx: float, by: float) -> None:
        length = math.hypot(bx - ax, by - ay)
        position = 0.0
        while position < length:
            end = min(position + dash, length)
            draw.line(
                [
                    (ax + (bx - ax) * position / length, ay + (by - ay) * position / length),
                    (ax + (bx - ax) * end / length, ay + (by - ay) * end / length),
                ],
                fill=color,
                width=width,
            )
            position = end + gap

    dashes(x0 + radius, y0, x1 - radius, y0)
    dashes(x1, y0 + radius, x1, y1 - radius)
    dashes(x1 - radius, y1, x0 + radius, y1)
    dashes(x0, y1 - radius, x0, y0 + radius)
    for cx, cy, start in (
        (x1 - radius, y0 + radius, 270),
        (x1 - radius, y1 - radius, 0),
        (x0 + radius, y1 - radius, 90),
        (x0 + radius, y0 + radius, 180),
    ):
        draw.arc(
            [cx - radius, cy - radius, cx + radius, cy + radius],
            start,
            start + 90,
            fill=color,
            width=width,
        )


def render_png(report: Report, scale: float = DEFAULT_SCALE) -> bytes:
    board = L.layout_board(report)
    scale = min(
        scale,
        MAX_SIDE / board.width,
        MAX_SIDE / board.height,
        math.sqrt(MAX_PIXELS / (board.width * board.height)),
    )
    width = max(1, round(board.width * scale))
    height = max(1, round(board.height * scale))

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - board.left) * scale, (y - board.top) * scale

    def box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = px(x, y), px(x + w, y + h)
        return x0, y0, x1, y1

    image = Image.new("RGB", (width, height), _rgb(L.BACKGROUND))
    draw = ImageDraw.Draw(image)

    # Header: title and subtitle at the same baselines as in the SVG.
    draw.text(px(board.left + L.MARGIN, board.top + L.MARGIN), board.title, fill=_rgb(L.INK),
              font=L.font(L.HEADER_TITLE_SIZE * scale, bold=True), anchor="ls")  # fmt: skip
    draw.text(px(board.left + L.MARGIN, board.top + L.MARGIN + 28), board.subtitle,
              fill=_rgb(L.INK_2), font=L.font(L.HEADER_SUB_SIZE * scale), anchor="ls")  # fmt: skip
    if board.empty_text:
        draw.text(px(board.width / 2, L.EMPTY_H / 2), board.empty_text, fill=_rgb(L.INK_2),
                  font=L.font(18 * scale), anchor="ms")  # fmt: skip

    # Cluster frames: translucent white fill, dashed outline, bold title.
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    overlay_draw = ImageDraw.Draw(overlay)
    alpha = round(255 * L.FRAME_FILL_OPACITY)
    for frame in board.frames:
        overlay_draw.rounded_rectangle(
            box(frame.x, frame.y, frame.w, frame.h),
            radius=L.CLUSTER_RADIUS * scale,
            fill=(255, 255, 255, alpha),
        )
    image.paste(overlay, (0, 0), overlay)
    draw = ImageDraw.Draw(image)
    for frame in board.frames:
        _dashed_rounded_rect(
            draw,
            box(frame.x, frame.y, frame.w, frame.h),
            L.CLUSTER_RADIUS * scale,
            _rgb(L.FRAME_STROKE),
            max(1, round(2 * scale)),
            8 * scale,
            6 * scale,
        )
        draw.text(px(frame.x + L.CLUSTER_TITLE_X, frame.y + L.CLUSTER_TITLE_BASELINE),
                  frame.title, fill=_rgb(L.INK_2 if frame.untitled else L.INK),
                  font=L.font(L.CLUSTER_TITLE_SIZE * scale, bold=True), anchor="ls")  # fmt: skip

    # Card shadows in one blurred layer, then the cards on top in board order.
    shadows = Image.new("RGBA", image.size, (0, 0, 0, 0))
    shadow_draw = ImageDraw.Draw(shadows)
    for note in board.notes:
        shadow_draw.rounded_rectangle(
            box(note.x + 1, note.y + 3, note.w, note.h),
            radius=L.CARD_RADIUS * scale,
            fill=(0, 0, 0, 46),
        )
    shadows = shadows.filter(ImageFilter.GaussianBlur(max(1.0, 3 * scale)))
    image.paste(shadows, (0, 0), shadows)
    draw = ImageDraw.Draw(image)
    text_font = L.font(L.TEXT_SIZE * scale)
    author_font = L.font(L.AUTHOR_SIZE * scale, bold=True)
    badge_font = L.font(L.BADGE_SIZE * scale, bold=True)
    for note in board.notes:
        draw.rounded_rectangle(
            box(note.x, note.y, note.w, note.h),
            radius=L.CARD_RADIUS * scale,
            fill=_rgb(note.color),
        )
        for index, line in enumerate(note.lines):
            top = note.y + L.CARD_PAD_Y + index * L.LINE_HEIGHT
            base = L.baseline(top, L.LINE_HEIGHT, L.TEXT_SIZE)
            draw.text(px(note.x + L.CARD_PAD_X, base), line, fill=_rgb(L.INK), font=text_font,
                      anchor="ls")  # fmt: skip
        if note.author:
            top = note.y + note.h - L.CARD_PAD_Y - L.AUTHOR_LINE
            base = L.baseline(top, L.AUTHOR_LINE, L.AUTHOR_SIZE)
            draw.text(px(note.x + L.CARD_PAD_X, base), note.author, fill=_rgb(L.INK_2),
                      font=author_font, anchor="ls")  # fmt: skip
        if note.votes:
            cx, cy = px(note.x + note.w - 4, note.y + 4)
            r = L.BADGE_RADIUS * scale
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_rgb(L.BADGE_FILL),
                         outline=(255, 255, 255), width=max(1, round(2 * scale)))  # fmt: skip
            draw.text((cx, cy), str(note.votes), fill=(255, 255, 255), font=badge_font,
                      anchor="mm")  # fmt: skip

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
