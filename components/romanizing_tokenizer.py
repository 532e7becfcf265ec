"""A whitespace tokenizer whose tokens are in Roman script, so Hindi and Hinglish share one vocabulary.

Each token keeps its place in the original text (start and end), so regexes, entities and `rasa
test` spans stay exact; only the token's text (what the featurizers count) is romanized:
"मेरा ऑर्डर कहाँ है" is featurized as "mera ordar kahan hai".
"""
from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from components.script import romanize, symbol_words


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class RomanizingTokenizer(WhitespaceTokenizer):
    """Split on whitespace like Rasa's WhitespaceTokenizer, then write Devanagari tokens in Roman letters."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Return the whitespace tokens with Devanagari text romanized and emoji named, in place."""
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            roman = symbol_words(romanize(token.text))
            if roman != token.text:
                token.text = token.lemma = roman
        return tokens
