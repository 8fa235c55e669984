"""What the notebooks and the panel print shows in common fonts: no emoji.

Without an emoji font (Debian's chromium with fonts-liberation, minimal Linux desktops without
fonts-noto-color-emoji) an emoji renders as an empty box, so a learner saw boxes where the
checks said pass, fail or hint. Plain words and the symbols of the common Latin fonts
(WGL4: arrows, <=, >=, box drawing, triangles) are safe."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "labkit").rglob("*.py"), *(REPO / "labkit").rglob("*.js"),
                  *(REPO / "labkit").rglob("*.css"), *(REPO / "scripts" / "course").glob("*.py"),
                  *(REPO / "notebooks").glob("*.ipynb"), *(REPO / "app").rglob("*.py")])


def emoji(ch: str) -> bool:
    """Emoji and pictographs: Misc Symbols, Dingbats, the supplementary pictographs, and the
    emoji variation selector (it turns a plain symbol into an emoji)."""
    cp = ord(ch)
    return (0x2600 <= cp <= 0x27BF or 0x2B00 <= cp <= 0x2BFF or 0x1F000 <= cp <= 0x1FAFF
            or cp == 0xFE0F)


def test_the_scan_knows_an_emoji():
    assert emoji("\u2705") and emoji("\U0001F4A1") and emoji("\u274C")
    assert not any(emoji(c) for c in "PASS FAIL -> \u2192 \u2264 \u2500 \u25B2 \u00B7 \u2014")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_emoji_in_what_learners_see(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    found = sorted({f"U+{ord(c):04X} {c}" for c in text if emoji(c)})
    assert not found, f"{path.relative_to(REPO)}: emoji {found}; use plain words instead"
