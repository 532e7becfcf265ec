"""Make a user's text safe and cheap to parse before any pattern or model sees it.

Pure and linear-time: every pattern here is a single character class (``[...]`` or ``\\s+``), which
cannot backtrack. The NLU pipeline, the numbered-choice parser and the WhatsApp worker all call
``clean_text`` so that no component is handed a 50 kB body or a run of thousands of newlines.
"""
from __future__ import annotations

import re

# WhatsApp's own cap on a text message is 4,096 characters, so a cap at that length never cuts what
# a user could type; it only bounds what a forged or malformed delivery could make us parse.
MAX_TEXT_CHARS = 4096
# Work is bounded before cleaning too: at most this much of a longer body is looked at (enough for
# 4,096 characters of text padded with many whitespace or invisible characters).
MAX_SCANNED_CHARS = 4 * MAX_TEXT_CHARS

# Control (Cc) and format (Cf) characters other than whitespace, and lone surrogates. Kept on
# purpose: zero-width (non-)joiner U+200C/U+200D (Devanagari conjuncts, emoji sequences) and the
# tag characters U+E0020-U+E007F (subdivision flags such as England's).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u08e2\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001]"
)
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop invisible control characters, collapse whitespace to one space, strip, cap at 4,096."""
    if not text:
        return ""
    text = _INVISIBLE.sub("", text[:MAX_SCANNED_CHARS])
    return _SPACES.sub(" ", text).strip()[:MAX_TEXT_CHARS].rstrip()
