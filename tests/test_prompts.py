"""The QA-generation prompts."""

import pytest

from docmatix.prompts import (
    DEFAULT_MAX_TOKENS,
    PROMPT_IDS,
    PROMPTS,
    build_request,
    system_message,
    user_message,
)
from docmatix.qa_records import Chunk

TEXT = "Invoice number: INV-7\nNEW PAGE\nTotal due: $120 {net}"


def chunk(prompt_id: int, text: str = TEXT) -> Chunk:
    return Chunk(doc_key="d1", index=2, pages=(0, 1), text=text, tokens=12, prompt_id=prompt_id)


def test_five_variants_with_stable_ids():
    assert PROMPT_IDS == (0, 1, 2, 3, 4)
    assert [p.id for p in PROMPTS] == list(PROMPT_IDS)
    assert len({p.name for p in PROMPTS}) == 5
    assert len({system_message(i) for i in PROMPT_IDS}) == 5


@pytest.mark.parametrize("prompt_id", PROMPT_IDS)
def test_system_message_carries_the_reference_content(prompt_id):
    text = system_message(prompt_id)
    assert PROMPTS[prompt_id].role in text
    assert '"NEW PAGE"' in text
    assert "unanswerable" in text
    assert "factual" in text
    assert "Tables" in text and "pictures" in text
    assert "Q1: " in text and "A1: " in text


def test_roles_say_what_the_reference_roles_ask():
    roles = {p.id: p.role for p in PROMPTS}
    assert "inference" in roles[0] and "analysis" in roles[0]
    assert "section" in roles[1] and "whole document" in roles[1]
    assert "critical thinking" in roles[2]
    assert "summaries" in roles[3] and "details" in roles[3]
    assert roles[4].startswith(roles[0]) and "general terms" in roles[4]


def test_build_request_carries_chunk_and_text():
    request = build_request(chunk(3))
    assert request.id == "d1:2"
    assert request.max_tokens == DEFAULT_MAX_TOKENS == 2000
    assert request.chunk_text == TEXT
    system, user = request.messages
    assert system == {"role": "system", "content": system_message(3)}
    assert user["role"] == "user"
    assert TEXT in user["content"]
    assert "Q1: " in user["content"] and "A1: " in user["content"]
    assert "unanswerable" in user["content"]


def test_build_request_max_tokens_is_a_parameter():
    assert build_request(chunk(0), max_tokens=512).max_tokens == 512


def test_text_with_braces_is_inserted_verbatim():
    text = "{0} {text} {{x}} %s"
    assert text in user_message(text)


def test_unknown_prompt_id_is_an_error():
    with pytest.raises(KeyError):
        build_request(chunk(5))
