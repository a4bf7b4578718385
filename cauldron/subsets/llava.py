"""LLaVA-style records ({image, conversations: [{from, value}]}) as Cauldron items and turns.

Used by ShareGPT-4o and Geo170K. Records naming the same image are grouped into one item,
so several conversations about one image become one multi-turn row.
"""

from collections.abc import Iterable, Iterator

from cauldron.schema import cauldron_row
from cauldron.subsets.base import Reject, SourceItem, checked_images
from cauldron.subsets.files import ImageStore

_MARKER = "<image>"
_ROLES = {"human": "user", "gpt": "assistant"}


def grouped_items(
    subset: str, records: Iterable[dict | Reject], store: ImageStore
) -> Iterator[SourceItem | Reject]:
    """One item per distinct image, records in source order; the id is the image name.

    A record that could not be read (a reject) is passed on as it is.
    """
    groups: dict[str, list[dict]] = {}
    for record in records:
        if isinstance(record, Reject):
            yield record
            continue
        groups.setdefault(str(record.get("image") or ""), []).append(record)
    for name, members in groups.items():
        images = (store.image(name),) if name else ()
        yield SourceItem(subset, name or "no-image", images, tuple(members))


def strip_marker(text: str) -> str:
    """The text without the `<image>` placeholder and the newline that set it apart."""
    pieces = [piece.strip() for piece in text.split(_MARKER)]
    return "\n".join(piece for piece in pieces if piece)


def turns(records: Iterable[dict]) -> list[tuple[str, str]]:
    """(user, assistant) pairs from every record's conversation, in order.

    Raises ValueError when a conversation does not alternate human, gpt, or has an empty
    message: such a record cannot be split into turns faithfully.
    """
    pairs = []
    for record in records:
        messages = record.get("conversations") or []
        roles = [_ROLES.get(m.get("from")) for m in messages]
        if not messages or roles != ["user", "assistant"] * (len(messages) // 2):
            raise ValueError(f"conversation roles {[m.get('from') for m in messages]}")
        values = [strip_marker(str(m.get("value") or "")) for m in messages]
        if not all(values):
            raise ValueError("empty message")
        pairs.extend(zip(values[0::2], values[1::2], strict=True))
    return pairs


def convert(item: SourceItem, subset: str) -> dict | Reject:
    """A LLaVA-style item as a row: its checked images and its human/gpt turns."""
    kept = checked_images(item)
    if isinstance(kept, Reject):
        return kept
    try:
        pairs = turns(item.records)
    except ValueError as exc:
        return Reject(item.key, "bad_conversation", str(exc))
    return cauldron_row(kept, pairs, subset)
