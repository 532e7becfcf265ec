"""Numbered choices: "2" means the 2nd button of the last message that offered buttons.

Pure functions over plain data and Rasa event objects (duck-typed by
``type_name``), shared by the NLU resolver and the policy so that typing a
number behaves the same at run time and in ``rasa test``.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Iterable, Mapping, Optional, Sequence

from components.text import clean_text

CHOICE_INTENT = "choose_option"
OPTION_ENTITY = "option"
MAX_OPTION = 99
_DIGITS = re.compile(r"\d+")

# Keycap emoji ("2️⃣") arrive as digit + U+FE0F + U+20E3.
_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")
# Words, digit runs (any script: "२" is 2) and single other characters, spaces dropped. Each
# alternative is one character class, so tokenising is linear.
_TOKEN = re.compile(r"\d+|[^\W\d_]+|\S")
# The longest choice the grammar accepts has 18 tokens ("i would like to go with option no . # 2 ) is my
# choice please !"); anything longer is not a bare choice and is not parsed further.
MAX_CHOICE_TOKENS = 20
# A bare choice over tokens joined by single spaces, every token followed by exactly one space. No
# unbounded quantifier (only ?, {0,2} and \d{1,2}) and fullmatch: the work per message is bounded
# by a constant, whatever the text, so it cannot backtrack catastrophically.
_CHOICE = re.compile(
    r"""(?:(?:i\ (?:['’]\ ll\ |will\ |would\ like\ to\ )?|give\ me\ |my\ choice\ is\ )?
       (?:(?:choose|chose|pick|select|want|take|need|go\ with|reply|ans|answer)\ )?)?
    (?:(?:option|opt|choice|number|num|no)\ (?:[.:\#-]\ )?){0,2}
    (?:\#\ )?
    (?P<n>\d{1,2})\ 
    (?:[.)]\ )?
    (?:is\ my\ choice\ )?
    (?:(?:pls|plz|please|sir|madam|ji)\ )?
    (?:[.!]\ )?""",
    re.VERBOSE,
)


def parse_choice(text: str) -> Optional[int]:
    """Return the option number a message picks, or None if it is not a bare choice."""
    tokens = [m.group() for m in itertools.islice(
        _TOKEN.finditer(clean_text(text).translate(_KEYCAP).lower()), MAX_CHOICE_TOKENS + 1)]
    if not tokens or len(tokens) > MAX_CHOICE_TOKENS:
        return None
    match = _CHOICE.fullmatch(" ".join(tokens) + " ")
    if not match:
        return None
    number = int(match.group("n"))
    return number if 1 <= number <= MAX_OPTION else None


def choice_span(text: str) -> Optional[tuple[int, int]]:
    """Return the character span of the number in a bare choice."""
    if parse_choice(text) is None:
        return None
    # A bare choice has one digit run, the number: find it in the text as given.
    match = _DIGITS.search(text)
    return match.span() if match else None


def last_offer(
    events: Iterable[Any], responses: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[str, list[dict]]:
    """Return text and buttons of the last bot message in this session that offered some.

    Events may be Rasa event objects (Rasa server) or their JSON dicts (action
    server). A bot message carries its buttons in ``BotUttered.data``. In
    ``rasa test`` custom actions don't run and no ``BotUttered`` exists, so an
    executed ``utter_*`` action stands for its domain response.
    """
    for event in reversed(list(events)):
        kind = _field(event, "type_name", "event")
        if kind == "session_started":
            break
        if kind == "bot":
            buttons = (_field(event, "data", "data") or {}).get("buttons")
            if buttons:
                return _field(event, "text", "text") or "", list(buttons)
        elif kind == "action":
            variants = responses.get(_field(event, "action_name", "name") or "")
            if variants and variants[0].get("buttons"):
                return variants[0].get("text", ""), list(variants[0]["buttons"])
    return "", []


def last_offered_buttons(
    events: Iterable[Any], responses: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[dict]:
    """Return the buttons of the last bot message in this session that offered some."""
    return last_offer(events, responses)[1]


def _field(event: Any, attribute: str, key: str) -> Any:
    if isinstance(event, Mapping):
        return event.get(key)
    return getattr(event, attribute, None)


def payload_for(buttons: Sequence[Mapping[str, Any]], option: int) -> Optional[str]:
    """Return the payload of the option-th button (1-based), or None when out of range."""
    if 1 <= option <= len(buttons):
        return str(buttons[option - 1].get("payload") or "") or None
    return None
