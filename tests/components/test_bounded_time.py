"""No text a user can send makes the NLU's own parsing take more than 50 ms.

Hypothesis builds hostile texts (whitespace runs around digits and words, 4,096 characters, emoji
and keycaps, Devanagari mixed with Latin, control characters, "ord ord ord", "def#-#-#"), and every
explicit worst case of tests/hostile.py is run too. Each call is timed on its own.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from components.choices import choice_span, parse_choice
from components.numbered_choice import NumberedChoiceRewriter, NumberedChoiceTagger
from components.text import MAX_TEXT_CHARS, clean_text
from tests.hostile import HOSTILE_SETTINGS, hostile_texts, whitespace_run, with_worst_cases, within_budget

ROOT = Path(__file__).resolve().parents[2]
MENU = [{"title": t, "payload": f"/{p}"} for t, p in [("Orders", "menu_orders"), ("Defects", "menu_defects")]]
TRACKER = DialogueStateTracker.from_events("919800000001", [BotUttered("Menu", {"buttons": MENU})])
CONTEXT = ExecutionContext(GraphSchema({}), "bounded-time")


def _regex_components(tmp: Path) -> tuple[WhitespaceTokenizer, RegexFeaturizer, RegexEntityExtractor]:
    """Build the pipeline's tokenizer and regex components from config.yml's settings and data/nlu/regex.yml."""
    # The extractor keeps only regexes named like an entity of the examples, so read all NLU data.
    first, *rest = [RasaYAMLReader().read(path) for path in sorted((ROOT / "data" / "nlu").glob("*.yml"))]
    data = first.merge(*rest)
    storage = LocalModelStorage(tmp)
    tokenizer = WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), storage,
                                           Resource("tokenizer"), CONTEXT)
    featurizer = RegexFeaturizer.create({**RegexFeaturizer.get_default_config(), "case_sensitive": False},
                                        storage, Resource("regex_featurizer"), CONTEXT)
    featurizer.train(data)
    extractor = RegexEntityExtractor.create(
        {**RegexEntityExtractor.get_default_config(), "case_sensitive": False, "use_lookup_tables": False,
         "use_regexes": True}, storage, Resource("regex_extractor"), CONTEXT)
    extractor.train(data)
    return tokenizer, featurizer, extractor


@pytest.fixture(scope="module")
def regex_components(tmp_path_factory: pytest.TempPathFactory):
    """Return the trained tokenizer, RegexFeaturizer and RegexEntityExtractor."""
    return _regex_components(tmp_path_factory.mktemp("regex"))


@HOSTILE_SETTINGS
@given(text=hostile_texts())
@with_worst_cases
def test_cleaning_and_parsing_a_choice_is_fast(text):
    """clean_text, parse_choice and choice_span each finish within 50 ms on any hostile text."""
    cleaned = within_budget(clean_text, text)
    assert len(cleaned) <= MAX_TEXT_CHARS
    option = within_budget(parse_choice, text)
    span = within_budget(choice_span, text)
    assert (option is None) == (span is None)


@HOSTILE_SETTINGS
@given(text=hostile_texts())
@with_worst_cases
def test_the_numbered_choice_components_are_fast(text):
    """The Rewriter (with a menu in the conversation) and the Tagger process a hostile message within 50 ms."""
    rewritten = within_budget(lambda t: NumberedChoiceRewriter().process([Message({TEXT: t})], TRACKER,
                                                                          Domain.empty()), text)
    tagged = within_budget(lambda t: NumberedChoiceTagger().process([Message({TEXT: t})]), text)
    if parse_choice(text) is None:
        assert rewritten[0].get(TEXT) == text and tagged[0].get(INTENT) is None


@HOSTILE_SETTINGS
@given(text=hostile_texts())
@with_worst_cases
def test_the_id_regexes_of_regex_yml_are_fast(regex_components, text):
    """Rasa's tokenizer, RegexFeaturizer and RegexEntityExtractor with regex.yml take under 50 ms per message."""
    tokenizer, featurizer, extractor = regex_components

    def pipeline(raw: str) -> Message:
        messages = [Message({TEXT: raw})]
        tokenizer.process(messages)
        featurizer.process(messages)
        return extractor.process(messages)[0]

    within_budget(pipeline, text)


def test_the_issues_message_is_not_a_choice_and_takes_no_time():
    """The issue's 16-second message is answered as text at once, and the same run around "1" alone is option 1."""
    assert within_budget(parse_choice, whitespace_run(53)) is None
    assert within_budget(parse_choice, "\n" * 2000 + "1" + "\n" * 2000) == 1


def test_ids_in_hostile_text_are_still_found(regex_components):
    """An order id after a run of separators is still extracted the way regex.yml defines it."""
    tokenizer, featurizer, extractor = regex_components
    messages = [Message({TEXT: "📦 " * 100 + "status of ORD-10001 pls " + "\u200b" * 10})]
    tokenizer.process(messages)
    featurizer.process(messages)
    entities = extractor.process(messages)[0].get(ENTITIES)
    assert [(e["entity"], e["value"]) for e in entities] == [("order_id", "ORD-10001")]
