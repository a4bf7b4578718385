"""Idefics3 text layout: chat rows and interleaved documents -> input_ids and labels.

Chat rows (Docmatix, the Cauldron) follow the Idefics3 chat template:

    <|begin_of_text|>User:<image>...question<end_of_utterance>\\n
    Assistant: answer<end_of_utterance>\\n

with every image of the row at the start of the first user turn, and later
turns as `User: question<end_of_utterance>\\n`. Only ` answer<end_of_utterance>`
is learned. Interleaved documents (OBELICS) are their texts and images in
order, without the chat frame; their text is learned, image prompts are not.

The text is cut into segments at the learned/not-learned boundaries and each
segment is tokenised alone. Every boundary sits next to a special token or
before a space-led word, where BPE pre-tokenisers split anyway, so the ids
equal those of the whole string while the labels stay exact without offsets.
"""

from collections.abc import Sequence

IGNORE_INDEX = -100
BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_UTTERANCE = "<end_of_utterance>"
IMAGE_TOKEN = "<image>"
PARAGRAPH_BREAK = "\n\n"


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text` without special tokens added, from an HF or `tokenizers` tokenizer."""
    if hasattr(tokenizer, "encode"):
        out = tokenizer.encode(text, add_special_tokens=False)
    else:
        out = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(getattr(out, "ids", out))


def is_chat(turns: Sequence) -> bool:
    """Chat rows are lists of {user, assistant} dicts; documents are lists of str/None."""
    return bool(turns) and all(isinstance(t, dict) for t in turns)


def format_conversation(
    turns: Sequence, n_images: int, image_prompts: Sequence[str], tokenizer
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one example, `<image>` expanded by each image's prompt.

    `turns` is either a chat row ([{"user", "assistant"}, ...]) or an interleaved
    document ([text or None, ...], None marking an image position). Raises
    ValueError when the images and the text disagree, so the caller can skip it.
    """
    if len(image_prompts) != n_images:
        raise ValueError(f"{n_images} images but {len(image_prompts)} image prompts")
    if is_chat(turns):
        segments = chat_segments(turns, image_prompts, _bos(tokenizer))
    else:
        segments = document_segments(turns, image_prompts, _bos(tokenizer), _eos(tokenizer))
    return tokenize_segments(segments, tokenizer)


def chat_segments(turns, image_prompts, bos: str) -> list[tuple[str, bool]]:
    """(text, learned) pieces of a chat row; all images open the first user turn."""
    segments = [(bos, False)]
    for index, turn in enumerate(turns):
        user, assistant = _turn_texts(turn)
        if index == 0 and image_prompts:
            segments.append(("User:", False))
            segments.extend((prompt, False) for prompt in image_prompts)
            segments.append((f"{user}{END_OF_UTTERANCE}\n", False))
        else:
            segments.append((f"User: {user}{END_OF_UTTERANCE}\n", False))
        segments.append(("Assistant:", False))
        segments.append((f" {assistant}{END_OF_UTTERANCE}", True))
        segments.append(("\n", False))
    if not turns and image_prompts:
        raise ValueError("images but no turns to place them in")
    return segments


def document_segments(items, image_prompts, bos: str, eos: str | None) -> list[tuple[str, bool]]:
    """(text, learned) pieces of an interleaved document, texts and images in their order."""
    positions = sum(1 for item in items if item is None)
    if positions != len(image_prompts):
        raise ValueError(f"{positions} image positions but {len(image_prompts)} images")
    segments, prompts, previous_text = [(bos, False)], iter(image_prompts), False
    for item in items:
        if item is None:
            segments.append((next(prompts), False))
            previous_text = False
            continue
        if not isinstance(item, str):
            raise ValueError(f"document item of type {type(item).__name__}")
        _check_text(item)
        segments.append((PARAGRAPH_BREAK + item if previous_text else item, True))
        previous_text = True
    if eos:
        segments.append((eos, True))
    return segments


def tokenize_segments(segments, tokenizer) -> tuple[list[int], list[int]]:
    """Concatenate the segments' ids; labels copy learned ids and ignore the rest."""
    input_ids, labels, cache = [], [], {}
    for text, learned in segments:
        if not text:
            continue
        if text not in cache:
            cache[text] = encode(tokenizer, text)
        ids = cache[text]
        input_ids.extend(ids)
        labels.extend(ids if learned else [IGNORE_INDEX] * len(ids))
    return input_ids, labels


def _turn_texts(turn: dict) -> tuple[str, str]:
    user, assistant = turn.get("user"), turn.get("assistant")
    if not isinstance(user, str) or not isinstance(assistant, str):
        raise ValueError("a turn needs string 'user' and 'assistant'")
    _check_text(user)
    _check_text(assistant)
    return user, assistant


def _check_text(text: str) -> None:
    """A literal `<image>` in the text would desynchronise images and placeholders."""
    if IMAGE_TOKEN in text:
        raise ValueError(f"text contains a literal {IMAGE_TOKEN}")


def _bos(tokenizer) -> str:
    return getattr(tokenizer, "bos_token", None) or BEGIN_OF_TEXT


def _eos(tokenizer) -> str | None:
    return getattr(tokenizer, "eos_token", None)
