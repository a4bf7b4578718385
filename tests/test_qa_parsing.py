"""The faithful parser reproduces the original Docmatix parse; the robust one survives what
models really write."""

import pytest

from docmatix.qa_parsing import parse_pairs
from docmatix.qa_records import QAPair

CANONICAL = (
    "Q1: What is the title of the report?\n"
    "A1: Annual Safety Review\n"
    "Q2: Who signed the letter?\n"
    "A2: The director of operations, Maria Lopez.\n"
    "Q3: How many sites were inspected?\n"
    "A3: Twelve sites were inspected.\n"
)
CANONICAL_PAIRS = [
    QAPair("What is the title of the report?", "Annual Safety Review"),
    QAPair("Who signed the letter?", "The director of operations, Maria Lopez."),
    QAPair("How many sites were inspected?", "Twelve sites were inspected."),
]


def test_faithful_canonical():
    result = parse_pairs(CANONICAL, faithful=True)
    assert result.pairs == CANONICAL_PAIRS
    assert result.unused == 0


def test_faithful_keeps_trailing_text_and_blank_lines_in_the_answer():
    text = "Sure!\nQ1: Who?\nA1: Bob.\n\nI hope this helps."
    result = parse_pairs(text, faithful=True)
    assert result.pairs == [QAPair("Who?", "Bob.\n\nI hope this helps.")]
    assert result.leftover == ["Sure!"]


def test_faithful_removes_the_prefix_only_with_exactly_one_space():
    text = "Q1:Who?\nA1:  Bob.\nQ2:\nWhy?\nA2: Because."
    assert parse_pairs(text, faithful=True).pairs == [
        QAPair("Q1:Who?", " Bob."),  # stripped first, then one "A1: " removed: a space stays
        QAPair("Q2:\nWhy?", "Because."),
    ]


def test_faithful_question_runs_to_the_first_answer_marker():
    text = "Q1: Who? Q2: Where?\nA2: Here.\nQ3: Why?"
    result = parse_pairs(text, faithful=True)
    assert result.pairs == [QAPair("Who? Q2: Where?", "Here.")]
    assert result.unanswered == ["Q3: Why?"]


def test_faithful_unmatched_trailing_question():
    text = "Q1: Who?\nA1: Bob.\nQ2: Why?"
    result = parse_pairs(text, faithful=True)
    # The answer block runs to the next "Qn:", so Q2 starts a gap with no answer.
    assert result.pairs == [QAPair("Who?", "Bob.")]
    assert result.unanswered == ["Q2: Why?"]


def test_faithful_leaves_markdown_in_place():
    result = parse_pairs("**Q1:** Who?\n**A1:** Bob.", faithful=True)
    assert result.pairs == [QAPair("Q1:** Who?\n**", "A1:** Bob.")]


def test_robust_canonical_matches_faithful():
    assert parse_pairs(CANONICAL).pairs == CANONICAL_PAIRS


WHO = QAPair("Who signed the letter?", "Maria Lopez.")
HOW_MANY = QAPair("How many sites were inspected?", "Twelve.")

PLAIN = (
    "Q1: Who signed the letter?\nA1: Maria Lopez.\nQ2: How many sites were inspected?\nA2: Twelve."
)

MESSY = {
    "no_numbers": "Q: Who signed the letter?\nA: Maria Lopez.\nQ: How many sites were inspected?\n"
    "A: Twelve.",
    "bold_markers": "**Q1:** Who signed the letter?\n**A1:** Maria Lopez.\n\n"
    "**Q2: How many sites were inspected?**\n**A2:** Twelve.",
    "headers": "### Q1\nWho signed the letter?\n### A1\nMaria Lopez.\n\n"
    "### Question 2:\nHow many sites were inspected?\n### Answer 2:\nTwelve.",
    "spelled_out": "Question 1: Who signed the letter?\nAnswer: Maria Lopez.\n"
    "Question 2: How many sites were inspected?\nAnswer: Twelve.",
    "numbered_list_with_markers": "1. Q: Who signed the letter?\n   A: Maria Lopez.\n"
    "2. Q: How many sites were inspected?\n   A: Twelve.",
    "numbered_list_bare_questions": "1. Who signed the letter?\n   Answer: Maria Lopez.\n\n"
    "2. How many sites were inspected?\n   Answer: Twelve.",
    "inline_answers": "- Q1: Who signed the letter? A1: Maria Lopez.\n"
    "- Q2: How many sites were inspected? A2: Twelve.",
    "preamble": "Here are some questions and answers based on the document:\n\n" + PLAIN,
    "trailing_text": PLAIN + "\n\nI hope this helps! Let me know if you need more.",
    "trailing_note": PLAIN + "\nNote: these questions are based on page 1 only.",
    "extra_blank_lines": "\n\nQ1: Who signed the letter?\n\n\nA1: Maria Lopez.\n\n\n\n"
    "Q2: How many sites were inspected?\n\nA2: Twelve.\n\n",
    "mismatched_numbering": "Q1: Who signed the letter?\nA2: Maria Lopez.\n"
    "Q5: How many sites were inspected?\nA3: Twelve.",
    "crlf": PLAIN.replace("\n", "\r\n") + "\r\n",
    "code_fence": "```\n" + PLAIN + "\n```",
}


@pytest.mark.parametrize("name", sorted(MESSY))
def test_robust_messy_variants(name):
    assert parse_pairs(MESSY[name]).pairs == [WHO, HOW_MANY]


def test_robust_reports_preamble_and_closing_as_leftover():
    assert parse_pairs(MESSY["preamble"]).leftover == [
        "Here are some questions and answers based on the document:"
    ]
    assert parse_pairs(MESSY["trailing_text"]).leftover == [
        "I hope this helps! Let me know if you need more."
    ]
    assert parse_pairs(MESSY["trailing_note"]).leftover == [
        "Note: these questions are based on page 1 only."
    ]


def test_robust_drops_and_counts_a_question_without_answer():
    text = (
        "Q1: Who signed the letter?\nA1: Maria Lopez.\n"
        "Q2: What is the budget?\n"
        "Q3: How many sites were inspected?\nA3: Twelve.\n"
        "Q4: When was it filed?\nA4:\n"
    )
    result = parse_pairs(text)
    assert result.pairs == [WHO, HOW_MANY]
    assert result.unanswered == ["What is the budget?", "When was it filed?"]
    assert result.unused == 2


def test_robust_multiline_answer_and_list_after_colon():
    text = (
        "Q1: What are the steps?\nA1: The steps are:\n\n1. Register.\n2. Pay the fee.\n\n"
        "Q2: Who signed the letter?\nA2: Maria\nLopez."
    )
    assert parse_pairs(text).pairs == [
        QAPair("What are the steps?", "The steps are:\n1. Register.\n2. Pay the fee."),
        QAPair("Who signed the letter?", "Maria\nLopez."),
    ]


def test_robust_answer_ends_at_a_blank_line_followed_by_prose():
    text = "Q1: Who signed the letter?\nA1: Maria Lopez.\n\nThese look good overall."
    result = parse_pairs(text)
    assert result.pairs == [WHO]
    assert result.leftover == ["These look good overall."]


def test_robust_orphan_answer_is_leftover():
    result = parse_pairs("A1: Nobody asked.\nQ1: Who signed the letter?\nA1: Maria Lopez.")
    assert result.pairs == [WHO]
    assert result.leftover == ["Nobody asked."]


def test_robust_markers_need_a_separator():
    """ "Q3 revenue" or "A. Smith" inside an answer are text, not markers."""
    text = "Q1: Who wrote it?\nA1: The authors are\nA. Smith and\nQ3 revenue analysts."
    assert parse_pairs(text).pairs == [
        QAPair("Who wrote it?", "The authors are\nA. Smith and\nQ3 revenue analysts.")
    ]


@pytest.mark.parametrize("faithful", [False, True])
@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "I'm sorry, but I can't generate questions for this document.",
        "NEW PAGE\n\n| col | col |\n|-----|-----|\n",
        "Questions about this document are hard to write.\nAnswers will vary.",
    ],
)
def test_garbage_gives_zero_pairs(garbage, faithful):
    result = parse_pairs(garbage, faithful=faithful)
    assert result.pairs == []
    assert result.unanswered == []
    assert bool(result.leftover) == bool(garbage.strip())
