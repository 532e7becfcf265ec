"""Pure parsing of what users type: order and defect ids in any case and spacing."""
from __future__ import annotations

import re
from typing import Iterable, Optional

# Same language as data/nlu/regex.yml: "order no. 10001", "ऑर्डर 10001"; \d takes Devanagari digits
# too, and int() turns them into ASCII ones.
_NUMBER_WORD = r"(?:(?:no|num|number|नंबर)\b[\s#:_.-]*)?"
_ORDER = re.compile(r"\b(?:ord(?:er)?|ऑर्डर)[\s#:_.-]*" + _NUMBER_WORD + r"(\d{5})\b", re.IGNORECASE)
_DEFECT = re.compile(r"\b(?:def(?:ect)?|डिफेक्ट)[\s#:_.-]*" + _NUMBER_WORD + r"(\d{1,6})\b", re.IGNORECASE)


def normalize_order_id(text: Optional[str]) -> Optional[str]:
    """Return "ORD-10001" for "ord 10001", "ORD10001", "order #10001"; None if absent."""
    match = _ORDER.search(text or "")
    return f"ORD-{int(match.group(1)):05d}" if match else None


def normalize_defect_id(text: Optional[str]) -> Optional[str]:
    """Return "DEF-0001" for "def 1", "DEF0001", "defect #0001"; None if absent."""
    match = _DEFECT.search(text or "")
    return f"DEF-{int(match.group(1)):04d}" if match else None


def first_normalized(values: Iterable[Optional[str]], normalize) -> Optional[str]:
    """Return the first value that normalizes to an id."""
    for value in values:
        normalized = normalize(value)
        if normalized:
            return normalized
    return None


_WORD = re.compile(r"[^\W_]+")
# Words a product name may share with any question about it.
_NOT_A_PRODUCT_WORD = frozenset({"order", "orders", "the", "and", "for", "with", "of"})


def _words(text: str) -> set[str]:
    """Lowercased words of three or more characters, each also without a plural "s" ("rolls" -> "roll")."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if len(word) >= 3 and word not in _NOT_A_PRODUCT_WORD:
            found.add(word)
            if len(word) > 3 and word.endswith("s") and not word[-2].isdigit():
                found.add(word[:-1])
    return found


def orders_named(text: Optional[str], candidates: Iterable) -> list:
    """Return the candidates whose product the text names best ("my polyester roll order" ->
    the Polyester fabric roll), in their order; several when they tie, none when no word matches."""
    said = _words(text or "")
    scored = [(len(said & _words(c.product)), c) for c in candidates]
    best = max((score for score, _ in scored), default=0)
    return [c for score, c in scored if best and score == best]
