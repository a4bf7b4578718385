"""The original nine patterns drop what they dropped, charged to the right rule; the additions
run only in strict mode and are counted apart."""

import pytest

from docmatix.qa_filters import (
    ADDED_RULES,
    DOCMATIX_PATTERNS,
    DOCMATIX_RULES,
    FilterConfig,
    SourceIndex,
    docmatix_rule,
    filter_pairs,
)
from docmatix.qa_records import QAPair

DOCMATIX = FilterConfig.for_mode("docmatix")
STRICT = FilterConfig.for_mode("strict")

PAGE = (
    "Annual Safety Review 2023 \n Prepared by the Office of Operations \n "
    "The director of operations, Maria Lopez, signed the report on 14 March 2024. \n "
    "Inspectors visited 12 sites and recorded 1,250 observations. \n "
    "Most findings concerned ladders, ventilation and fire exits. \n "
    "Budget for the next year was increased to 3.5 million dollars."
)

GOOD_Q = "Who signed the report?"
GOOD_A = "Maria Lopez, the director of operations."

# (case id, question, answer, expected rule or None when kept)
DOCMATIX_CASES = [
    ("plain_good", GOOD_Q, GOOD_A, None),
    ("plain_good_number", "How many sites were visited?", "12 sites.", None),
    ("plain_good_multiline", "What did findings concern?", "Ladders,\nventilation.", None),
    ("end_of_sentence_dot", "What was reviewed?", "Safety. Ventilation too.", None),
    ("abbreviation_with_space", "What is cited?", "Fig. 3 and p. 4.", None),
    ("decimal", "What is the new budget?", "3.5 million dollars.", "dotted_token"),
    ("url", "Where can the form be found?", "At www.example.org/forms.", "dotted_token"),
    ("e_g", "Which hazards?", "Several, e.g. ladders and exits.", "dotted_token"),
    ("i_e", "Which office?", "The main one, i.e. Operations.", "dotted_token"),
    ("email", "Who to contact?", "Write to info@example.com now.", "dotted_token"),
    ("dotted_question", "What does section 2.1 say?", "It lists sites.", "dotted_token"),
    ("nested_qa", "Who signed?", "Maria Lopez.\nQ2: When? A2: In March.", "nested_question"),
    ("nested_answer_only", "Who signed?", "Maria Lopez. A2: In March.", "nested_answer"),
    ("nested_lowercase", "Who signed?", "Maria. q3: and then?", "nested_question"),
    ("blank_line_in_answer", "Who signed?", "Maria Lopez.\n\nShe is the director.", "blank_line"),
    ("blank_line_with_spaces", "Who signed?", "Maria Lopez.\n  \nDirector.", "blank_line"),
    ("unanswerable_answer", "What is the revenue?", "Unanswerable.", "unanswerable"),
    ("unanswerable_lower", "What is the revenue?", "This is unanswerable", "unanswerable"),
    ("unanswerable_question", "Unanswerable question: what?", "None.", "unanswerable"),
    ("braces", "What is the template field?", "It is {name}.", "braces"),
    ("brackets", "What supports the claim?", "The survey [1].", "brackets"),
    ("tags", "What is emphasised?", "The <b>exits</b> are blocked.", "tags"),
    ("less_greater", "Compare?", "Cost < 5 and > 2", "tags"),
    # An IPv4 address is also a word.word token; the IPv4 rule comes first.
    ("ipv4", "Which server was used?", "The server 192.168.0.1 hosts it", "ipv4"),
    ("empty_answer", "Who signed?", "", "empty"),
    ("whitespace_answer", "Who signed?", "  \n ", "empty"),
    ("empty_question", "", "Maria Lopez.", "empty"),
    # Only a line that holds two newlines is blank; a single newline is fine.
    ("single_newline", "Who?\nReally?", "Maria.", None),
    # Rule order wins over side: brackets (answer) come before dotted_token (question).
    ("rule_order_over_side", "What is 2.1?", "See [2].", "brackets"),
]


@pytest.mark.parametrize(
    ("question", "answer", "rule"),
    [case[1:] for case in DOCMATIX_CASES],
    ids=[case[0] for case in DOCMATIX_CASES],
)
def test_docmatix_mode(question, answer, rule):
    result = filter_pairs([QAPair(question, answer)], PAGE, DOCMATIX)
    if rule is None:
        assert result.kept == [QAPair(question, answer)]
        assert result.dropped == [] and result.counts == {}
    else:
        assert result.kept == []
        assert [d.rule for d in result.dropped] == [rule]
        assert result.counts == {rule: 1}


def test_nine_patterns_are_the_originals():
    assert {name: p.pattern for name, p in DOCMATIX_PATTERNS.items()} == {
        "braces": r"\{.*?\}",
        "brackets": r"\[.*?\]",
        "tags": r"<.*?>",
        "ipv4": r"\b\d{1,3}(\.\d{1,3}){3}\b",
        "dotted_token": r"\w+\.\w+",
        "blank_line": r"\n\s*\n",
        "unanswerable": r"unanswerable",
        "nested_question": r"Q\d+: ",
        "nested_answer": r"A\d+: ",
    }


def test_patterns_do_not_span_lines():
    """No dot-matches-newline: a brace, bracket or tag opened on one line and closed on the
    next is not a span."""
    assert docmatix_rule("a { b\n c } d") is None
    assert docmatix_rule("see [1\n] here") is None
    assert docmatix_rule("x < y\nand y > z") is None


def test_nested_marker_needs_the_space():
    assert docmatix_rule("Q1:x") is None
    assert docmatix_rule("ends with A1:") is None


def test_side_is_reported():
    result = filter_pairs([QAPair("What is {x}?", "Fine.")], PAGE, DOCMATIX)
    assert result.dropped[0].side == "question"


def test_counts_add_up_over_a_batch():
    pairs = [QAPair(q, a) for _, q, a, _ in DOCMATIX_CASES]
    result = filter_pairs(pairs, PAGE, DOCMATIX)
    expected_kept = [QAPair(q, a) for _, q, a, rule in DOCMATIX_CASES if rule is None]
    assert result.kept == expected_kept
    assert sum(result.counts.values()) == len(result.dropped) == len(pairs) - len(expected_kept)
    assert result.docmatix_dropped == len(result.dropped) and result.added_dropped == 0
    assert set(result.counts) <= set(DOCMATIX_RULES)


def test_docmatix_mode_ignores_grounding_dedup_and_length():
    pairs = [
        QAPair("Who?", "An invented answer about quantum chromodynamics in 1999."),
        QAPair("Who?", "An invented answer about quantum chromodynamics in 1999."),
    ]
    assert filter_pairs(pairs, PAGE, DOCMATIX).kept == pairs


# --- strict mode ----------------------------------------------------------------------------

STRICT_CASES = [
    ("supported", GOOD_Q, GOOD_A, None),
    ("supported_numbers", "How many observations were recorded?", "1250 observations.", None),
    ("supported_thousands", "How many observations were recorded?", "About 1,250.", None),
    ("short_yes", "Was the report signed?", "Yes.", None),
    (
        "invented_answer",
        "What is the main conclusion?",
        "Quantum computing will transform agricultural logistics worldwide.",
        "ungrounded",
    ),
    ("invented_number", "How many sites were visited?", "17 sites.", "ungrounded_number"),
    ("invented_year", "When was it signed?", "In March 2021.", "ungrounded_number"),
    ("question_too_short", "Who?", GOOD_A, "question_length"),
    ("question_too_long", "Who " + "really " * 60 + "signed?", GOOD_A, "question_length"),
    ("answer_too_long", GOOD_Q, "Maria Lopez " * 100, "answer_length"),
    # Docmatix rules come first even in strict mode.
    ("docmatix_first", "Who?", "Unanswerable.", "unanswerable"),
]


@pytest.mark.parametrize(
    ("question", "answer", "rule"),
    [case[1:] for case in STRICT_CASES],
    ids=[case[0] for case in STRICT_CASES],
)
def test_strict_mode(question, answer, rule):
    result = filter_pairs([QAPair(question, answer)], PAGE, STRICT)
    assert [d.rule for d in result.dropped] == ([] if rule is None else [rule])
    assert len(result.kept) == (rule is None)


def test_near_duplicate_keeps_the_first():
    pairs = [
        QAPair("Who signed the report?", "Maria Lopez."),
        QAPair("Who signed this report?", "The director, Maria Lopez."),
        QAPair("Who has signed the report?", "Maria Lopez signed it."),
        QAPair("Why was the report signed?", "Maria Lopez signed it for the Office."),
    ]
    result = filter_pairs(pairs, PAGE, STRICT)
    assert result.kept == [pairs[0], pairs[3]]
    assert result.counts == {"near_duplicate": 2}


def test_questions_differing_in_a_number_are_not_duplicates():
    pairs = [
        QAPair("How many sites were visited in 2023?", "12 sites."),
        QAPair("How many sites were visited in 2024?", "12 sites."),
    ]
    assert filter_pairs(pairs, PAGE, STRICT).kept == pairs


def test_dedup_state_spans_chunks_of_one_document():
    seen: list = []
    first = filter_pairs([QAPair(GOOD_Q, GOOD_A)], PAGE, STRICT, seen_questions=seen)
    second = filter_pairs([QAPair("Who signed the Report?", "Maria.")], PAGE, STRICT, seen)
    assert len(first.kept) == 1 and second.kept == []
    assert second.counts == {"near_duplicate": 1}
    assert len(seen) == 1


def test_dropped_pairs_do_not_enter_dedup_state():
    pairs = [
        QAPair("How many sites were visited?", "17 sites."),
        QAPair("How many sites were visited?", "12 sites."),
    ]
    result = filter_pairs(pairs, PAGE, STRICT)
    assert result.kept == [pairs[1]]
    assert result.counts == {"ungrounded_number": 1}


def test_additions_switch_one_by_one():
    pair = QAPair("Who?", "Quantum computing will transform agricultural logistics.")
    only_length = FilterConfig(length_bounds=True)
    only_grounding = FilterConfig(grounding=True)
    assert filter_pairs([pair], PAGE, only_length).counts == {"question_length": 1}
    assert filter_pairs([pair], PAGE, only_grounding).counts == {"ungrounded": 1}
    assert filter_pairs([pair, pair], PAGE, FilterConfig(dedup=True)).counts == {
        "near_duplicate": 1
    }


def test_prebuilt_source_index_gives_the_same_result():
    pairs = [QAPair(q, a) for _, q, a, _ in STRICT_CASES]
    assert filter_pairs(pairs, SourceIndex.build(PAGE), STRICT) == filter_pairs(pairs, PAGE, STRICT)


def test_strict_counts_split_docmatix_and_additions():
    pairs = [QAPair(q, a) for _, q, a, _ in DOCMATIX_CASES + STRICT_CASES]
    strict = filter_pairs(pairs, PAGE, STRICT)
    docmatix = filter_pairs(pairs, PAGE, DOCMATIX)
    assert sum(strict.counts.values()) == len(strict.dropped)
    assert strict.docmatix_dropped == docmatix.docmatix_dropped
    assert {r: strict.counts[r] for r in DOCMATIX_RULES if r in strict.counts} == docmatix.counts
    assert len(strict.kept) + strict.added_dropped == len(docmatix.kept)
    assert set(strict.counts) - set(DOCMATIX_RULES) <= set(ADDED_RULES)


def test_unknown_mode():
    with pytest.raises(ValueError):
        FilterConfig.for_mode("lenient")
