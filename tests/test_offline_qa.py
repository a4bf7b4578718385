"""The model-free extractive QA backend."""

import re

import pymupdf
import pytest

from docmatix.offline_qa import (
    MAX_PAIRS,
    OfflineBackend,
    extract_pairs,
    format_pairs,
    passes_docmatix_filter,
)
from llm.records import ChatRequest

QA_BLOCK = re.compile(r"(Q\d+:\s*.*?)(A\d+:\s*.*?)(?=(Q\d+:)|$)", re.DOTALL)


def parse(text: str) -> list[tuple[str, str]]:
    """The reference's parse: Qn/An blocks, stripped, prefixes removed."""
    pairs = []
    for q, a, _ in QA_BLOCK.findall(text):
        pairs.append((re.sub(r"^Q\d+: ", "", q.strip()), re.sub(r"^A\d+: ", "", a.strip())))
    return pairs


def flat(text: str) -> str:
    return " ".join(text.split())


def pdf_text(path, separator="\nNEW PAGE\n") -> str:
    with pymupdf.open(path) as d:
        return separator.join(page.get_text() for page in d)


def request(text: str, rid: str = "k:0") -> ChatRequest:
    return ChatRequest(id=rid, messages=(), max_tokens=2000, chunk_text=text)


@pytest.fixture(scope="module")
def demo_texts(demo_corpus):
    root, index = demo_corpus
    files = {f["path"]: f for f in index["files"]}
    names = ["invoice", "form", "report", "paper_two_column"]
    return {
        n: (pdf_text(root / f"pdf/digital/{n}.pdf"), files[f"pdf/digital/{n}.pdf"]) for n in names
    }


def test_invoice_fields_become_questions(demo_texts):
    text, facts = demo_texts["invoice"]
    pairs = {p.question: p.answer for p in extract_pairs(text)}
    assert pairs["What is the invoice number?"] == facts["fields"]["Invoice number"]
    assert pairs["What is the due date?"] == facts["fields"]["Due date"]
    # Amounts with cents contain a word.word token that the Docmatix filter drops: skipped.
    assert not any(a in pairs.values() for a in (facts["fields"]["Total"], "$4,459.57"))


def test_form_labels_on_their_own_line_take_the_next_line(demo_texts):
    text, facts = demo_texts["form"]
    pairs = {p.question: p.answer for p in extract_pairs(text)}
    assert pairs["What is the full name?"] == facts["fields"]["Full name"]
    assert facts["fields"]["Email"] not in pairs.values()  # an e-mail has word.word


def test_report_gets_sections_percentages_and_dates(demo_texts):
    text, _ = demo_texts["report"]
    questions = [p.question for p in extract_pairs(text)]
    assert any(q.startswith("What is the section titled Operational Planning") for q in questions)
    assert any(q.startswith("What percentage of ") for q in questions)
    assert any(q.startswith("According to the document, when was it that ") for q in questions)
    assert len(questions) <= MAX_PAIRS


@pytest.mark.parametrize("name", ["invoice", "form", "report", "paper_two_column"])
def test_demo_answers_are_grounded_filter_safe_and_deterministic(demo_texts, name):
    text, _ = demo_texts[name]
    pairs = extract_pairs(text)
    assert 3 <= len(pairs) <= MAX_PAIRS
    for pair in pairs:
        assert pair.answer in flat(text)
        assert passes_docmatix_filter(pair.question) and passes_docmatix_filter(pair.answer)
    assert len({p.question for p in pairs}) == len(pairs)
    assert extract_pairs(text) == pairs


def test_pdfa_line_join_gives_the_same_pairs(demo_corpus):
    root, _ = demo_corpus
    with pymupdf.open(root / "pdf/digital/invoice.pdf") as d:
        lines = d[0].get_text().splitlines()
    assert extract_pairs(" \n ".join(lines)) == extract_pairs("\n".join(lines))


def test_reply_parses_back_to_the_pairs(demo_texts):
    text, _ = demo_texts["report"]
    pairs = extract_pairs(text)
    assert parse(format_pairs(pairs)) == [(p.question, p.answer) for p in pairs]


def test_pairs_scale_with_pages():
    page = "Invoice number: A-1\nCustomer: Jane Doe\nDate: 2024-01-02\nCustomer ID: C77\nRef: R9"
    assert len(extract_pairs(page)) == 4
    two = page + "\nNEW PAGE\nOrder code: OC-5\nBranch: North Side"
    assert len(extract_pairs(two)) == 7


def test_sentence_patterns():
    text = (
        "1 Field Results\n"
        "About 42 percent of the farms used the new seed. In March 2021, the board approved "
        "the budget. The grant of $12,000 was paid. The fee of $3.50 was waived."
    )
    pairs = {p.question: p.answer for p in extract_pairs(text)}
    assert pairs["What percentage of the farms used the new seed?"] == "42 percent"
    assert pairs["According to the document, when was it that the board approved the budget?"] == (
        "March 2021"
    )
    assert pairs['Which amount follows "The grant of" in the document?'] == "$12,000"
    assert pairs["What is the section titled Field Results about?"] == (
        "About 42 percent of the farms used the new seed."
    )
    assert "$3.50" not in pairs.values()


def test_captions_and_wrapped_fragments_are_not_fields():
    text = "Figure 1: Sales by month\nNote: see the table for\nTable 2: Costs"
    assert extract_pairs(text) == []


def test_backend_answers_every_request_in_order():
    backend = OfflineBackend()
    requests = [request("Invoice number: INV-9", "a:0"), request("", "b:0"), request("x", "c:0")]
    replies = backend.generate(requests)
    assert [r.id for r in replies] == ["a:0", "b:0", "c:0"]
    assert all(r.source == "offline-extractive" == backend.name for r in replies)
    assert all(r.error is None for r in replies)
    assert parse(replies[0].text) == [("What is the invoice number?", "INV-9")]
    assert replies[1].text == "" and replies[2].text == ""
    assert replies[1].detail == "nothing extractable"
    backend.close()


def test_backend_pair_cap_is_an_option():
    text = "Invoice number: A-1\nCustomer: Jane Doe\nDate: 2024-01-02"
    (reply,) = OfflineBackend(max_pairs=2).generate([request(text)])
    assert len(parse(reply.text)) == 2
