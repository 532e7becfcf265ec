"""Devanagari to the Roman spelling Hinglish writers use, so both scripts look alike to the classifier.

"मेरा ऑर्डर कहाँ है" becomes "mera ordar kahan hai", next to a customer's "mera order kahan hai". The
letters come from indic-transliteration's OPTITRANS scheme; the rest turns its scholarly spelling
into chat spelling: lower case, the inherent vowel dropped at the end of a word ("kharAba" ->
"kharab"), nasal marks as n/m. Pure: text in, text out; Latin text passes through unchanged.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from indic_transliteration import sanscript

# Devanagari block and the Vedic extensions; one run of them is transliterated at a time.
_DEVANAGARI_RUN = re.compile("[\u0900-\u097f\ua8e0-\ua8ff]+")
_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
# OPTITRANS spellings that chat Roman Hindi writes otherwise (order matters: longest first).
_CHAT_SPELLING = (
    ("R^i", "ri"), ("R^I", "ri"), ("L^i", "li"), ("R", "ri"),
    (".D", "d"), (".N", "n"), ("~N", "n"), ("~n", "n"), (".n", "n"),
    ("oa", "o"),      # candra O (ऑ) in English loans: ऑर्डर -> ordar
    (".h", ""), (".a", ""), ("^", ""), ("~", ""),
)
_NASAL_BEFORE_LABIAL = re.compile("M(?=[pbm])")
_CONSONANT = re.compile("[\u0915-\u0939\u0958-\u095f]\u093c?")
_VOWEL_SIGNS = set(chr(c) for c in range(0x093E, 0x094D)) | {"\u0962", "\u0963"}
_VIRAMA = "\u094d"
_NASALS = {"\u0901", "\u0902"}  # chandrabindu, anusvara: a nasal vowel is said
_INDEPENDENT_VOWELS = set(chr(c) for c in range(0x0904, 0x0915))


def symbol_words(text: str) -> str:
    """Return a token made only of symbols (emoji) as its Unicode names ("👍👍" -> "thumbs_up_sign"), else text.

    Rasa's tokenizer keeps a message of emoji alone as one token that no featurizer can count, so
    every such message looked the same to the classifier; by name, a thumbs up and an angry face differ.
    """
    if any(ch.isalnum() for ch in text):
        return text
    names = dict.fromkeys(unicodedata.name(ch, "").lower().replace(" ", "_").replace("-", "_")
                          for ch in text if unicodedata.category(ch) == "So")
    names.pop("", None)
    return "_".join(names) or text


def has_devanagari(text: str) -> bool:
    """Return True if text contains a Devanagari letter, mark or digit."""
    return _DEVANAGARI_RUN.search(text) is not None


def romanize(text: str) -> str:
    """Return text with every Devanagari run written in chat Roman spelling; digits become ASCII."""
    if not text or not has_devanagari(text):
        return text
    return _DEVANAGARI_RUN.sub(lambda match: _romanize_run(match.group(0)), text)


@lru_cache(maxsize=4096)
def _romanize_run(run: str) -> str:
    """Romanize one run of Devanagari characters (a word, or a word's Devanagari part)."""
    if run.isdigit():
        return run.translate(_DEVANAGARI_DIGITS)
    roman = sanscript.transliterate(_silence_schwas(run), sanscript.DEVANAGARI, sanscript.OPTITRANS)
    for scholarly, chat in _CHAT_SPELLING:
        roman = roman.replace(scholarly, chat)
    roman = _NASAL_BEFORE_LABIAL.sub("m", roman).replace("M", "n").replace("H", "h")
    return roman.lower().translate(_DEVANAGARI_DIGITS)


def _silence_schwas(word: str) -> str:
    """Put a virama after each consonant whose inherent "a" Hindi does not pronounce.

    Units are consonants (with their vowel: a sign, a virama, or the inherent "a") and independent
    vowels. Right to left, an inherent "a" goes silent at the end of a word of two or more syllables,
    and between a voiced syllable before it and a consonant with a vowel after it (the usual Hindi
    schwa deletion: "karana" -> "karna", "kapaDA" -> "kapDA").
    """
    units: list[list[str]] = []  # [letters, vowel] with vowel "a", "" (virama) or a sign/independent vowel
    index = 0
    while index < len(word):
        consonant = _CONSONANT.match(word, index)
        if consonant:
            index = consonant.end()
            following = word[index] if index < len(word) else ""
            if following == _VIRAMA or following in _VOWEL_SIGNS:
                units.append([consonant.group(0) + following, following if following in _VOWEL_SIGNS else ""])
                index += 1
            else:
                units.append([consonant.group(0), "a"])
        else:
            char = word[index]
            if units and char in _NASALS:
                units[-1][0] += char
                units[-1][1] += char  # a nasal vowel stays
            else:
                units.append([char, char if char in _INDEPENDENT_VOWELS else ""])
            index += 1
    syllables = sum(1 for _letters, vowel in units if vowel)
    for position in range(len(units) - 1, 0, -1):
        letters, vowel = units[position]
        if vowel != "a":
            continue
        last = position == len(units) - 1
        voiced_before = bool(units[position - 1][1])
        voiced_after = not last and units[position + 1][1] not in ("", "a") or (
            not last and units[position + 1][1] == "a" and position + 1 < len(units) - 1)
        if (last and syllables > 1) or (voiced_before and voiced_after):
            units[position] = [letters + _VIRAMA, ""]
            syllables -= 1
    return "".join(letters for letters, _vowel in units)
