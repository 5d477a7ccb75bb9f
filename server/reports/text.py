"""The textual reports: Markdown for the lab's report, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
import re

from server.reports.model import CardView, Report, human_time, iso_ms

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_MD_LINE_START = re.compile(r"^(\s*)([-+*>]|\d+[.)])(\s)", re.MULTILINE)


def md_escape(text: str) -> str:
    """Card text as literal Markdown (no accidental emphasis, links, HTML or lists)."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def _md_card_text(text: str, indent: str) -> str:
    """Multi-line card text inside a list item: hard line breaks, continuation indent."""
    lines = md_escape(text).split("\n") if text else [""]
    return ("\\\n" + indent).join(line.strip() for line in lines)


def _md_card(report: Report, card: CardView, indent: str = "  ") -> str:
    details = []
    if card.author:
        details.append(f"*{md_escape(card.author)}*")
    if card.created is not None:
        details.append(human_time(card.created))
    if card.votes:
        details.append(report.votes_label(card.votes))
    suffix = f" — {', '.join(details)}" if details else ""
    return f"- {_md_card_text(card.text, indent)}{suffix}"


def render_markdown(report: Report) -> bytes:
    labels = report.labels
    out: list[str] = [f"# {md_escape(report.title)}", ""]
    facts = [(labels["date"], report.date)]
    if report.phase:
        facts.append((labels["phase"], report.phase))
    if report.participants is not None:
        facts.append((labels["participants"], str(report.participants)))
    facts.append((labels["cards"], str(len(report.cards))))
    facts.append((labels["clusters"], str(len(report.clusters))))
    if report.exported:
        facts.append((labels["exported"], report.exported))
    out += [f"- **{name}:** {md_escape(value)}" for name, value in facts if value]
    if report.anonymous:
        out += ["", f"_{labels['anonymous']}_"]

    out += ["", f"## {labels['results']}", ""]
    if not report.results_visible:
        out.append(f"_{labels['votes_hidden']}_")
    elif not report.ranked:
        out.append(f"_{labels['no_votes']}_")
    else:
        for rank, card in enumerate(report.ranked, 1):
            line = f"{rank}. **{report.votes_label(card.votes or 0)}** — "
            line += _md_card_text(card.text, "   ")
            if card.cluster_id:
                line += f" ({md_escape(card.cluster_title or labels['untitled'])})"
            if card.voters:
                named = ", ".join(f"{md_escape(name or '?')} {dots}" for name, dots in card.voters)
                line += f" — {named}"
            out.append(line)

    out += ["", f"## {labels['clusters']}"]
    for cluster in report.clusters:
        out += ["", f"### {md_escape(report.cluster_label(cluster))}", ""]
        out += [_md_card(report, card) for card in cluster.cards] or [f"_{labels['no_cards']}_"]
    if not report.clusters:
        out += ["", f"_{labels['no_cards']}_"]

    out += ["", f"## {labels['unclustered']}", ""]
    out += [_md_card(report, card) for card in report.unclustered] or [f"_{labels['no_cards']}_"]
    return ("\n".join(out) + "\n").encode("utf-8")


CSV_COLUMNS = ("id", "text", "cluster", "author", "votes", "created", "x", "y", "color")


_FORMULA_START = re.compile(r"^(?:[=+@\t\r]|-\S)")


def _cell(text: str) -> str:
    """Text a spreadsheet must not run as a formula (CSV injection): a leading `'` then."""
    return "'" + text if _FORMULA_START.match(text) else text


def _coordinate(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def render_csv(report: Report) -> bytes:
    """One row per card; UTF-8 with a byte order mark so Excel reads Latvian letters right.

    `votes` is empty while results are hidden (not 0: nobody knows yet), `author` is empty
    in anonymous rooms. Text that a spreadsheet would take for a formula (`=`, `+`, `@`,
    `-` before a non-space) gets a leading `'`.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, dialect="excel", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for card in report.cards:
        writer.writerow(
            (
                card.id,
                _cell(card.text),
                _cell(card.cluster_title) if card.cluster_id else "",
                _cell(card.author),
                "" if card.votes is None else card.votes,
                iso_ms(card.created),
                _coordinate(card.x),
                _coordinate(card.y),
                card.color,
            )
        )
    return buffer.getvalue().encode("utf-8-sig")
