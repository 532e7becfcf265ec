"""Hostile message texts shared by the bounded-time property tests and the end-to-end test.

Each is something any WhatsApp number can send: whitespace runs around digits and words (what made
the old choice pattern backtrack for minutes), 4,096 characters (WhatsApp's cap), emoji and keycaps,
Devanagari mixed with Latin, control and bidi characters, repeated id prefixes.
"""
from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, example, settings
from hypothesis import strategies as st

WHATSAPP_TEXT_MAX = 4096
KEYCAPS = [f"{d}\ufe0f\u20e3" for d in "0123456789#*"]
EMOJI = ["😀", "👍🏽", "❤️", "👨‍👩‍👧", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🇮🇳", "🙏", "✅", *KEYCAPS]
DEVANAGARI = "नमस्ते ऑर्डर स्थिति २ ३ ०९ क्ष त्र ज्ञ"
CONTROLS = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u00ad\u200b\u200c\u200d\u200e\u202e\u2066\u2069\ufeff\u2028\u2029"
WORDS = ["i", "option", "no.", "ord", "order", "def", "defect", "#", "-", ":", "pls", "choose", "is my choice"]


def whitespace_run(length: int) -> str:
    """Return "i", newlines, "1", newlines, "x" of the given length (53: the issue's 16-second text)."""
    run = (length - 3) // 2
    return "i" + "\n" * run + "1" + "\n" * (length - 3 - run) + "x"


def emoji_soup(length: int = WHATSAPP_TEXT_MAX, seed: int = 7) -> str:
    """Return random emoji and keycaps, cut to length characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts.append(rng.choice(EMOJI))
    return "".join(parts)[:length]


def mixed_soup(length: int = WHATSAPP_TEXT_MAX, seed: int = 11) -> str:
    """Return Devanagari, Latin, digits, control characters and whitespace runs mixed at random."""
    rng = random.Random(seed)
    pool = [*DEVANAGARI, *CONTROLS, *"ORD-10001 def 0001 option 2 ", "\n" * 30, " " * 30, "\t", *EMOJI]
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts.append(rng.choice(pool))
    return "".join(parts)[:length]


# Explicit worst cases for every parser, at WhatsApp's length and beyond.
WORST_CASES = [
    whitespace_run(53),
    whitespace_run(102),
    whitespace_run(WHATSAPP_TEXT_MAX),
    "i" + " " * 2000 + "choose" + " " * 2000 + "2" + "\t" * 90 + "!",
    "option" + " \n" * 2000 + "#" * 50,
    "ord " * 1024,
    "ord" + " " * 4090 + "1234",
    "def#-" * 819,
    "def" + "#-" * 2046 + "x",
    "order" + "_" * 4000 + "123456789",
    "1" + " " * 4094 + "x",
    "a." * 2048,
    "x://" + ":" * 4092,
    "token" * 819,
    "bearer " + " " * 4000,
    "authorization: " + "a" * 4000 + "!",
    "9" * WHATSAPP_TEXT_MAX,
    "1 " * 2048,
    emoji_soup(),
    "".join(KEYCAPS) * 120,
    mixed_soup(),
    ("२" + "\n" * 40) * 90,
    "\x00" * WHATSAPP_TEXT_MAX,
    "\u200b" * WHATSAPP_TEXT_MAX,
    "x" * 50_000,
]


def hostile_texts() -> st.SearchStrategy[str]:
    """Return a strategy of hostile texts up to 4,096 characters, built from the worst ingredients."""
    pieces = st.one_of(
        st.sampled_from(WORDS), st.sampled_from(EMOJI), st.sampled_from(list(CONTROLS)),
        st.sampled_from(list(DEVANAGARI)), st.text(alphabet="0123456789०१२३४५६७८९", min_size=1, max_size=6),
        st.integers(1, 400).map(lambda n: "\n" * n), st.integers(1, 400).map(lambda n: " " * n),
        st.integers(1, 200).map(lambda n: "#-" * n), st.integers(1, 200).map(lambda n: "ord " * n),
        st.text(max_size=20),
    )
    return st.lists(pieces, max_size=60).map(lambda parts: "".join(parts)[:WHATSAPP_TEXT_MAX])


BUDGET_SECONDS = 0.050  # the longest one call may take on one hostile text
TRIES = 2  # a slow call is timed once more, so a scheduler pause on a busy machine is not a failure


def within_budget(call, *args):
    """Call call(*args) and return its result; fail if it took over 50 ms (twice in a row)."""
    times = []
    for _ in range(TRIES):
        started = time.perf_counter()
        result = call(*args)
        times.append(time.perf_counter() - started)
        if times[-1] <= BUDGET_SECONDS:
            return result
    raise AssertionError(f"{getattr(call, '__qualname__', call)} took {min(times) * 1000:.1f} ms "
                         f"on {len(args[0]) if args and hasattr(args[0], '__len__') else '?'} characters")


def with_worst_cases(test):
    """Run a hypothesis test on every explicit worst case as well."""
    for text in reversed(WORST_CASES):
        test = example(text)(test)
    return test


HOSTILE_SETTINGS = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                            suppress_health_check=list(HealthCheck))
