"""The server's own board writes that restores use: minimal text rewrites, in UTF-8 offsets."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Map, Text

from server.rooms.writes import _rewrite


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("Soliņi pieturās ar nojumi", "Soliņi pieturās"),
        ("hello world", "hello brave world"),
        ("abc", ""),
        ("", "Jūrmala"),
        ("aaa", "aa"),
        ("Rīga jūra", "Rīga upe"),
        ("ab", "ba"),
        ("ēē😀ā", "ē😀😀ā"),
        ("šķ", "ŠĶ"),
        ("same", "same"),
    ],
)
def test_rewrite_reaches_the_wanted_text_and_syncs(before: str, after: str) -> None:
    doc = Doc()
    card = doc.get("cards", type=Map)
    card["t"] = Text(before)
    changes: list[bytes] = []
    doc.observe(lambda event: changes.append(event.update))
    _rewrite(card["t"], after)
    assert str(card["t"]) == after
    replica = Doc()
    replica.apply_update(doc.get_update())
    assert str(replica.get("cards", type=Map)["t"]) == after
    if before == after:
        assert changes == []


def test_rewrite_keeps_the_common_ends() -> None:
    doc = Doc()
    card = doc.get("cards", type=Map)
    card["t"] = Text("Zemās grīdas autobusi")
    text = card["t"]
    deltas: list[list[dict[str, object]]] = []
    text.observe(lambda event: deltas.append(event.delta))
    with doc.transaction():  # as inside replace_board
        _rewrite(text, "Zemās grīdas tramvaji")
    assert str(text) == "Zemās grīdas tramvaji"
    # One change that keeps "Zemās grīdas " and the final "i" and replaces only the middle.
    (delta,) = deltas
    assert delta[0] == {"retain": len("Zemās grīdas ".encode())}
    assert {"insert": "tramvaj"} in delta and {"delete": len("autobus")} in delta
