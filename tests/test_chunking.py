"""Document selection, page chunking and token counting."""

import json
import random
from collections import Counter

import pytest

from docmatix.chunking import (
    NO_TEXT,
    PAGE_SEPARATOR,
    PAGE_TOO_LONG,
    TOO_MANY_PAGES,
    SkipDocument,
    group_pages,
    prompt_id_for,
    select_and_chunk,
)
from docmatix.prompts import PROMPT_IDS
from docmatix.qa_records import PdfaDocument
from docmatix.tokens import APPROX_NAME, TokenCounter, approximate_count


class WordCounter:
    """One token per whitespace-separated word: limits are easy to reason about."""

    def count(self, text: str) -> int:
        return len(text.split())


def page(words: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(words))


def doc(*pages: str, key: str = "doc") -> PdfaDocument:
    return PdfaDocument(key=key, page_texts=tuple(pages))


def chunk_pages(d, **kw):
    return [c.pages for c in select_and_chunk(d, WordCounter(), **kw)]


def test_one_page_document_is_one_chunk():
    (chunk,) = select_and_chunk(doc("alpha beta gamma"), WordCounter())
    assert chunk.pages == (0,)
    assert chunk.text == "alpha beta gamma"
    assert chunk.tokens == 3
    assert chunk.index == 0 and chunk.id == "doc:0"
    assert chunk.prompt_id in PROMPT_IDS


def test_pages_that_fit_share_one_chunk_joined_by_new_page_lines():
    (chunk,) = select_and_chunk(doc("one", "two", "three"), WordCounter())
    assert chunk.pages == (0, 1, 2)
    assert chunk.text == "one\nNEW PAGE\ntwo\nNEW PAGE\nthree"
    assert PAGE_SEPARATOR == "\nNEW PAGE\n"


def test_token_limit_closes_chunks_with_one_page_overlap():
    d = doc(page(40), page(40), page(40), page(40))
    assert chunk_pages(d, max_tokens=100) == [(0, 1), (1, 2), (2, 3)]


def test_limit_is_inclusive():
    assert chunk_pages(doc(page(50), page(50)), max_tokens=100) == [(0, 1)]
    assert chunk_pages(doc(page(50), page(51)), max_tokens=100) == [(0,), (1,)]


def test_overlap_is_dropped_when_it_would_break_the_limit():
    # The original would emit (1, 2) with 120 tokens; we keep every chunk within the limit.
    d = doc(page(30), page(60), page(60))
    chunks = select_and_chunk(d, WordCounter(), max_tokens=100)
    assert [c.pages for c in chunks] == [(0, 1), (2,)]
    assert all(c.tokens <= 100 for c in chunks)


def test_page_limit_closes_chunks_with_overlap():
    d = doc("a", "b", "c", "d")
    assert chunk_pages(d, max_chunk_pages=2) == [(0, 1), (1, 2), (2, 3)]
    assert chunk_pages(d, max_chunk_pages=3) == [(0, 1, 2), (2, 3)]


def test_single_page_chunks_have_no_overlap():
    assert chunk_pages(doc("a", "b", "c"), max_chunk_pages=1) == [(0,), (1,), (2,)]


def test_page_over_the_token_limit_skips_the_document():
    with pytest.raises(SkipDocument) as caught:
        select_and_chunk(doc(page(10), page(101)), WordCounter(), max_tokens=100)
    assert caught.value.reason == PAGE_TOO_LONG
    assert "page 1" in caught.value.detail


def test_too_many_pages_skips_before_counting():
    class Refuse:
        def count(self, text):
            raise AssertionError("pages of a skipped document must not be tokenized")

    with pytest.raises(SkipDocument) as caught:
        select_and_chunk(doc(*"abcde"), Refuse(), max_pages=4)
    assert caught.value.reason == TOO_MANY_PAGES


def test_four_pages_are_allowed_by_default():
    assert chunk_pages(doc(*"abcd")) == [(0, 1, 2, 3)]


def test_document_without_text_is_skipped():
    for pages in [("",), ("", "  \n ", "\t")]:
        with pytest.raises(SkipDocument) as caught:
            select_and_chunk(doc(*pages), WordCounter())
        assert caught.value.reason == NO_TEXT
    with pytest.raises(SkipDocument):
        select_and_chunk(doc(), WordCounter())


def test_empty_pages_stay_in_place_but_empty_chunks_are_not_emitted():
    d = doc("text here", "", "", "")
    chunks = select_and_chunk(d, WordCounter(), max_chunk_pages=2)
    assert [c.pages for c in chunks] == [(0, 1)]
    assert [c.index for c in chunks] == [0]
    assert chunks[0].text == "text here\nNEW PAGE\n"


def test_empty_page_between_text_pages_keeps_numbering():
    (chunk,) = select_and_chunk(doc("first", "", "third"), WordCounter())
    assert chunk.pages == (0, 1, 2)
    assert chunk.text.split(PAGE_SEPARATOR) == ["first", "", "third"]


def test_random_documents_keep_limits_cover_pages_and_never_repeat_a_chunk():
    rng = random.Random(7)
    for _ in range(500):
        counts = [rng.choice([0, 1, 5, 30, 60, 99, 100]) for _ in range(rng.randint(1, 9))]
        max_pages = rng.randint(1, 5)
        groups = group_pages(counts, max_tokens=100, max_chunk_pages=max_pages)
        flat = [p for g in groups for p in g]
        assert set(flat) == set(range(len(counts)))
        assert all(g == sorted(g) and g == list(range(g[0], g[-1] + 1)) for g in groups)
        assert all(sum(counts[p] for p in g) <= 100 and len(g) <= max_pages for g in groups)
        for before, after in zip(groups, groups[1:], strict=False):
            assert after[0] in (before[-1], before[-1] + 1)  # overlap of at most one page
            assert after[-1] > before[-1]  # always advances: no repeats, no loops


def test_chunk_ids_and_texts_follow_the_document():
    d = doc(page(40, "a"), page(40, "b"), page(40, "c"), key="k1")
    chunks = select_and_chunk(d, WordCounter(), max_tokens=100)
    assert [c.id for c in chunks] == ["k1:0", "k1:1"]
    assert chunks[1].text.startswith("b0 ") and "\nNEW PAGE\nc0 " in chunks[1].text
    assert [c.tokens for c in chunks] == [80, 80]


def test_prompt_ids_are_deterministic_and_order_independent():
    docs = [doc(page(40), page(40), page(40), page(40), key=f"key{i}") for i in range(20)]

    def ids(order, seed=0):
        return {
            c.id: c.prompt_id
            for d in order
            for c in select_and_chunk(d, WordCounter(), max_tokens=100, seed=seed)
        }

    forward = ids(docs)
    assert forward == ids(list(reversed(docs)))
    assert forward == ids(docs)
    assert forward != ids(docs, seed=1)
    assert set(forward.values()) <= set(PROMPT_IDS)


def test_prompt_ids_are_roughly_uniform():
    draws = Counter(prompt_id_for(0, f"doc-{i}", i % 3) for i in range(10_000))
    assert set(draws) == set(PROMPT_IDS)
    expected = 10_000 / len(PROMPT_IDS)
    assert all(abs(n - expected) < 0.08 * expected for n in draws.values())


def test_approximation_is_used_without_a_local_tokenizer():
    counter = TokenCounter("no-such-org/no-such-model")
    assert counter.exact is False and counter.name == APPROX_NAME
    assert TokenCounter(None).exact is False
    assert counter.count("") == 0


def test_approximation_prices_pieces_pessimistically():
    assert approximate_count("the") == 1
    assert approximate_count(" report") == 1
    assert approximate_count("information") == 3
    assert approximate_count("12345") == 2
    assert approximate_count("a, b.") == 4
    assert approximate_count("line\nNEW PAGE\nline") == 6
    assert approximate_count("数据") == 3
    prose = (
        "The regional office checked the field notes, and the numbers will be checked "
        "again next month. In January 2024, the regional office improved the delivery plan."
    )
    assert approximate_count(prose) >= 1.3 * len(prose.split())


def save_word_tokenizer(folder) -> None:
    """A tiny word-level tokenizer written to disk, standing in for a downloaded one."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "invoice": 1, "number": 2}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))


def test_local_tokenizer_folder_gives_exact_counts(tmp_path):
    save_word_tokenizer(tmp_path)
    counter = TokenCounter(str(tmp_path))
    assert counter.exact is True and counter.name == str(tmp_path)
    assert counter.count("invoice number: INV") == 4
    (chunk,) = select_and_chunk(doc("invoice number", "number"), counter)
    assert chunk.tokens == 3


def test_tokenizer_in_the_hub_cache_is_found_by_repo_id(tmp_path):
    repo = tmp_path / "models--acme--tiny"
    save_word_tokenizer(repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    counter = TokenCounter("acme/tiny", cache_dir=str(tmp_path))
    assert counter.exact is True and counter.name == "acme/tiny"
    assert counter.count("invoice invoice") == 2
    assert TokenCounter("acme/other", cache_dir=str(tmp_path)).exact is False
