"""Devanagari is featurized in the Roman spelling Hinglish writers use."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from components.romanizing_tokenizer import RomanizingTokenizer
from components.script import romanize, symbol_words


@pytest.mark.parametrize("hindi, hinglish", [
    ("मेरा ऑर्डर कहाँ है", "mera ordar kahan hai"),
    ("माल खराब आया है", "mal kharab aya hai"),
    ("बिल की कॉपी भेज दो", "bil ki kopi bhej do"),
    ("ऑर्डर कैंसिल करना है", "ordar kainsil karna hai"),
    ("कपड़ा फटा हुआ है", "kapda phata hua hai"),
    ("अभी तक नहीं मिला", "abhi tak nahin mila"),
    ("कृपया जल्दी बताइए", "kripya jaldi bataie"),
    ("धन्यवाद", "dhanyavad"),
])
def test_hindi_reads_like_the_same_sentence_typed_in_hinglish(hindi, hinglish):
    """A Devanagari sentence comes out as the chat spelling of the same words."""
    assert romanize(hindi) == hinglish


def test_latin_text_ids_and_digits_pass_through_and_devanagari_digits_become_ascii():
    """English words and ids stay as typed; ०-९ become 0-9."""
    assert romanize("मेरा order ORD-10001 कहाँ है") == "mera order ORD-10001 kahan hai"
    assert romanize("where is my order") == "where is my order"
    assert romanize("२") == "2" and romanize("ऑर्डर १०००१") == "ordar 10001"


def test_tokens_are_romanized_but_keep_their_place_in_the_original_text():
    """Token text is Roman; start and end still point into the Devanagari message."""
    text = "मेरा ORD-10001 कहाँ है"
    tokens = RomanizingTokenizer(RomanizingTokenizer.get_default_config()).tokenize(Message({"text": text}), "text")
    assert [t.text for t in tokens] == ["mera", "ORD-10001", "kahan", "hai"]
    assert [text[t.start:t.end] for t in tokens] == ["मेरा", "ORD-10001", "कहाँ", "है"]


def test_emoji_alone_are_written_as_their_names_and_words_pass_through():
    """A message of emoji alone is featurized by name (skin tones and repeats dropped); text is left alone."""
    assert symbol_words("👍") == symbol_words("👍👍") == symbol_words("👍🏻") == "thumbs_up_sign"
    assert symbol_words("🙏") == "person_with_folded_hands"
    assert symbol_words("😡") != symbol_words("👍")
    assert [symbol_words(t) for t in ("ok", "???", "ORD-10001", "2️⃣")] == ["ok", "???", "ORD-10001", "2️⃣"]
