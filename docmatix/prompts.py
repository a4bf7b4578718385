"""The QA-generation prompts: one system template, five role variants, the user message.

The content follows the Docmatix prompts (pages split by a NEW PAGE line, a
role, a fallback to simple factual questions, avoid badly parsed tables and
images, "unanswerable" when nothing is worth asking, few-shot examples of the
`Q1:` / `A1:` format); the wording is ours. A row records the variant's
`prompt_id`, so ids are stable: append new variants, never renumber.
"""

from dataclasses import dataclass

from docmatix.qa_records import NEW_PAGE, Chunk
from llm.records import ChatRequest

DEFAULT_MAX_TOKENS = 2000


@dataclass(frozen=True)
class PromptVariant:
    id: int
    name: str
    role: str
    examples: tuple[tuple[str, str], ...]


SYSTEM_TEMPLATE = """\
The text below was extracted from a PDF document that may have several pages. \
Each page break is marked by a line that reads "{new_page}".
Your task: {role}
If the document is too simple for questions of that kind, ask plain factual questions \
about it instead.
Tables and pictures in the PDF often come out garbled in extracted text, so do not ask \
about them.
If the text holds nothing worth asking about, give "unanswerable" as the answer.
Examples of the kind of question-answer pairs your task calls for:
{examples}"""

USER_TEMPLATE = """\
Text extracted from the PDF:
{text}

Write the question-answer pairs in this format, numbering them from 1:
Q1: <question>
A1: <answer>
Q2: <question>
A2: <answer>

If no question can be asked about this text, write "unanswerable" as the answer."""

_BROAD = (
    "read the document and write as many question-answer pairs as it takes to cover "
    "its content thoroughly. Mix questions about stated facts, questions that need an "
    "inference, and questions that call for a closer analysis of the text."
)

PROMPTS: tuple[PromptVariant, ...] = (
    PromptVariant(
        id=0,
        name="varied",
        role=_BROAD,
        examples=(
            ("What is the document mainly about?", "It is mainly about ..."),
            ("Which points does the first section make?", "The first section argues that ..."),
            ("What evidence does the author give for X?", "The author backs X with ..."),
            ("What can be concluded about Y from the text?", "The text suggests that Y ..."),
        ),
    ),
    PromptVariant(
        id=1,
        name="per_section",
        role=(
            "go through the document section by section and write enough question-answer "
            "pairs for each section that, taken together, they cover the whole document "
            "in detail."
        ),
        examples=(
            (
                "What does the first section concentrate on?",
                "The first section concentrates on ...",
            ),
            ("Which details does the second section give?", "The second section gives ..."),
            ("How does the third section tie in with the main subject?", "It ties in by ..."),
        ),
    ),
    PromptVariant(
        id=2,
        name="critical",
        role=(
            "read the document and write as many question-answer pairs as it takes to cover "
            "its content thoroughly. The questions should demand critical thinking and "
            "analysis rather than simple look-up."
        ),
        examples=(
            ("What reasons does the author give for the main claim?", "The author reasons ..."),
            ("How does the text weigh X against Y?", "It contrasts them by ..."),
            ("What could follow from the results described?", "The results could mean ..."),
        ),
    ),
    PromptVariant(
        id=3,
        name="summary_and_detail",
        role=(
            "write as many question-answer pairs as it takes to cover both summaries of the "
            "sections and specific details in them, so that the broad themes and the fine "
            "points are both asked about."
        ),
        examples=(
            ("How would you summarise the first section?", "In short, the first section ..."),
            ("Which figures or facts does the second section report?", "It reports ..."),
            ("How do the details of the third section support the main point?", "They ..."),
        ),
    ),
    PromptVariant(
        id=4,
        name="general_terms",
        role=(
            _BROAD + " Phrase every question in general terms, without quoting names, "
            "numbers or wording from the document; the answer may use them."
        ),
        examples=(
            ("What is the opening section about?", "The opening section, titled ..., covers ..."),
            ("What evidence does the document present?", "The section on ... presents ..."),
            ("How do the later details support the overall point?", "The part about ... ."),
        ),
    ),
)

PROMPT_IDS: tuple[int, ...] = tuple(p.id for p in PROMPTS)


def _format_examples(examples: tuple[tuple[str, str], ...]) -> str:
    lines = []
    for n, (question, answer) in enumerate(examples, start=1):
        lines += [f"Q{n}: {question}", f"A{n}: {answer}", ""]
    return "\n".join(lines).rstrip()


def system_message(prompt_id: int) -> str:
    """The system text for a variant (raises KeyError for an unknown id)."""
    return _SYSTEM_TEXTS[prompt_id]


def user_message(text: str) -> str:
    return USER_TEMPLATE.format(text=text)


def build_request(chunk: Chunk, max_tokens: int = DEFAULT_MAX_TOKENS) -> ChatRequest:
    """The chat request for one chunk, with its text carried for prompt-less backends."""
    return ChatRequest(
        id=chunk.id,
        messages=(
            {"role": "system", "content": system_message(chunk.prompt_id)},
            {"role": "user", "content": user_message(chunk.text)},
        ),
        max_tokens=max_tokens,
        chunk_text=chunk.text,
    )


_SYSTEM_TEXTS: dict[int, str] = {
    p.id: SYSTEM_TEMPLATE.format(
        new_page=NEW_PAGE, role=p.role, examples=_format_examples(p.examples)
    )
    for p in PROMPTS
}
