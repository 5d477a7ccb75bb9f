"""The PDF workshop report, with fpdf2: a title page, the board, ranked results, clusters.

fpdf2 is pure Python (its needs, Pillow, fontTools and defusedxml, are wheels too) and
embeds TrueType fonts with Unicode, so the bundled DejaVu Sans prints every Latvian letter;
fonts are embedded as subsets, so a report stays small.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from server.reports import layout as L
from server.reports.model import CardView, Report, human_time
from server.reports.raster import render_png

FONT = "DejaVu"
INK = (26, 28, 30)
INK_2 = (61, 66, 72)
ACCENT = (11, 87, 208)


class _ReportPDF(FPDF):
    def __init__(self, report: Report) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.add_font(FONT, "", str(L.REGULAR_FONT))
        self.add_font(FONT, "B", str(L.BOLD_FONT))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_text_color(*INK)

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(*INK_2)
        text = f"{self.report.title} · {self.report.labels['page']} {self.page_no()}"
        self.cell(0, 5, text, align="C")
        self.set_text_color(*INK)

    def heading(self, text: str, size: float = 16) -> None:
        self.set_font(FONT, "B", size)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def paragraph(self, text: str, size: float = 11, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _card_details(report: Report, card: CardView) -> str:
    parts = [card.author] if card.author else []
    if card.created is not None:
        parts.append(human_time(card.created))
    if card.votes:
        parts.append(report.votes_label(card.votes))
    return " · ".join(parts)


def _title_page(pdf: _ReportPDF, report: Report) -> None:
    labels = report.labels
    pdf.add_page()
    pdf.set_y(70)
    pdf.set_font(FONT, "B", 11)
    pdf.set_text_color(*ACCENT)
    pdf.cell(0, 6, f"Koprade · {labels['report']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.ln(4)
    pdf.set_font(FONT, "B", 28)
    pdf.multi_cell(0, 13, report.title, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    facts = [(labels["date"], report.date)]
    if report.participants is not None:
        facts.append((labels["participants"], str(report.participants)))
    if report.phase:
        facts.append((labels["phase"], report.phase))
    facts.append((labels["cards"], str(len(report.cards))))
    facts.append((labels["clusters"], str(len(report.clusters))))
    if report.exported:
        facts.append((labels["exported"], report.exported))
    for name, value in facts:
        pdf.set_font(FONT, "B", 12)
        pdf.cell(45, 8, name)
        pdf.set_font(FONT, "", 12)
        pdf.cell(0, 8, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if report.anonymous:
        pdf.ln(4)
        pdf.set_text_color(*INK_2)
        pdf.paragraph(labels["anonymous"], 10)
        pdf.set_text_color(*INK)


def _board_page(pdf: _ReportPDF, report: Report) -> None:
    png = render_png(report)
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
    landscape = width > height
    pdf.add_page(orientation="landscape" if landscape else "portrait")
    pdf.heading(report.labels["board"])
    room_w = pdf.epw
    room_h = pdf.eph - (pdf.get_y() - pdf.t_margin) - 4
    scale = min(room_w / width, room_h / height)
    pdf.image(
        io.BytesIO(png),
        x=pdf.l_margin + (room_w - width * scale) / 2,
        y=pdf.get_y(),
        w=width * scale,
        h=height * scale,
        alt_text=f"{report.labels['board']}: {report.title}",
    )


def _results(pdf: _ReportPDF, report: Report) -> None:
    labels = report.labels
    pdf.add_page(orientation="portrait")
    pdf.heading(labels["results"])
    if not report.results_visible:
        pdf.paragraph(labels["votes_hidden"])
        return
    if not report.ranked:
        pdf.paragraph(labels["no_votes"])
        return
    pdf.set_font(FONT, "", 10)
    with pdf.table(
        col_widths=(8, 20, 100, 46),
        text_align=("RIGHT", "RIGHT", "LEFT", "LEFT"),
        line_height=5.5,
        borders_layout="HORIZONTAL_LINES",
        padding=1,
        headings_style=FontFace(emphasis="BOLD", fill_color=(232, 238, 250)),
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for text in (labels["rank"], labels["vote_many"], labels["card"], labels["cluster"]):
            header.cell(text)
        for rank, card in enumerate(report.ranked, 1):
            row = table.row()
            row.cell(str(rank))
            row.cell(str(card.votes))
            text = card.text
            if card.voters:
                text += "\n" + ", ".join(f"{name or '?'} {dots}" for name, dots in card.voters)
            row.cell(text)
            row.cell(card.cluster_title if card.cluster_id else "")


def _card_list(pdf: _ReportPDF, report: Report, cards: list[CardView]) -> None:
    if not cards:
        pdf.paragraph(report.labels["no_cards"], 10)
        return
    for card in cards:
        pdf.set_font(FONT, "", 11)
        pdf.set_x(pdf.l_margin + 3)
        pdf.cell(5, 5.5, "•")
        pdf.multi_cell(pdf.epw - 8, 5.5, card.text, align="L",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        details = _card_details(report, card)
        if details:
            pdf.set_font(FONT, "", 9)
            pdf.set_text_color(*INK_2)
            pdf.set_x(pdf.l_margin + 8)
            pdf.multi_cell(pdf.epw - 8, 4.5, details, align="L",
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
            pdf.set_text_color(*INK)
        pdf.ln(1.5)


def _clusters(pdf: _ReportPDF, report: Report) -> None:
    labels = report.labels
    pdf.add_page(orientation="portrait")
    pdf.heading(labels["clusters"])
    if not report.clusters:
        pdf.paragraph(labels["no_cards"], 10)
    for cluster in report.clusters:
        pdf.ln(2)
        pdf.heading(report.cluster_label(cluster), 13)
        _card_list(pdf, report, cluster.cards)
    pdf.ln(4)
    pdf.heading(labels["unclustered"], 13)
    _card_list(pdf, report, report.unclustered)


def render_pdf(report: Report) -> bytes:
    pdf = _ReportPDF(report)
    pdf.set_title(report.title)
    pdf.set_subject(report.labels["report"])
    pdf.set_creator("Koprade")
    pdf.set_lang(report.lang)
    pdf.set_creation_date(datetime.now(UTC))
    _title_page(pdf, report)
    _board_page(pdf, report)
    _results(pdf, report)
    _clusters(pdf, report)
    return bytes(pdf.output())
