"""What every component reads is one line of visible text of bounded length."""
from __future__ import annotations

import pytest

from components.text import MAX_TEXT_CHARS, clean_text


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("  hi\n\n\n there \t", "hi there"),
        ("ord\u200b 10001", "ord 10001"),
        ("a\x00b\x1bc\u202ed\ufeff", "abcd"),
        ("नमस्ते\u200d", "नमस्ते\u200d"),
        ("2\ufe0f\u20e3", "2\ufe0f\u20e3"),
        ("\n" * 5000, ""),
        ("", ""),
    ],
)
def test_invisible_characters_go_and_whitespace_runs_become_one_space(raw, clean):
    """Control and bidi characters vanish, joiners and keycaps stay, any whitespace run is one space."""
    assert clean_text(raw) == clean


def test_long_text_is_capped_at_whatsapps_limit():
    """A 50 kB body is cut to 4,096 characters, without a trailing space."""
    cleaned = clean_text("word " * 10_000)
    assert len(cleaned) <= MAX_TEXT_CHARS and not cleaned.endswith(" ") and cleaned.startswith("word word")


def test_clean_text_is_idempotent():
    """Cleaning twice changes nothing, so every layer may clean again."""
    raw = " a\u200b\n\n b\x07 " * 2000
    assert clean_text(clean_text(raw)) == clean_text(raw)
