"""ShareGPT-4o image captions (OpenGVLab/ShareGPT-4o): GPT-4o's detailed descriptions in
LLaVA conversations; human -> user without the `<image>` marker, gpt -> assistant."""

from collections.abc import Iterator
from pathlib import Path

from cauldron.subsets import llava
from cauldron.subsets.base import Reject, SourceItem
from cauldron.subsets.files import ImageStore, read_records

NAME = "sharegpt4o"
RECORDS = Path("image_conversations") / "gpt-4o.jsonl"


def read_source(path: Path, images: Path | None = None) -> Iterator[SourceItem]:
    """`path` is the dataset folder or the .jsonl itself; `images` the folder (or zip) the
    records' `image` names are relative to, by default `images/` in the dataset folder."""
    path = Path(path)
    records_file = path / RECORDS if path.is_dir() else path
    if images is None:
        folder = path if path.is_dir() else records_file.parent.parent
        images = folder / "images"
    with ImageStore(images) as store:
        yield from llava.grouped_items(NAME, read_records(records_file), store)


def convert(item: SourceItem, seed: int) -> dict | Reject:
    return llava.convert(item, NAME)
