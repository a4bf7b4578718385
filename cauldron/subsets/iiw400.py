"""IIW-400 (google/imageinwords): hyper-detailed human descriptions (`IIW`) of DOCCI images.

The dataset gives each image as a key and a URL only. A local copy is looked up in the
`images` folder, by `<key>.<ext>` or by the URL's file name; an image with no local copy
keeps its URL, so a pipeline can fetch it with obelics_filter's ImageFetcher and fill it
in with `SourceItem.with_fetched`. One still missing at `convert` becomes a reject.
"""

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from cauldron import prompts
from cauldron.schema import cauldron_row
from cauldron.subsets.base import Reject, SourceImage, SourceItem, checked_images
from cauldron.subsets.files import json_lines, read_image_file

NAME = "iiw400"
RECORDS = "data.jsonl"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def url_basename(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).name


def local_image(folder: Path | None, key: str, url: str) -> SourceImage:
    names = [key + ext for ext in EXTENSIONS] + [url_basename(url)]
    ref = f"{key} ({url})"
    for name in names:
        if folder is not None and name and "/" not in name and name not in (".", ".."):
            file = folder / name
            if os.path.lexists(file) and not file.is_dir():
                found = read_image_file(folder, file, ref)
                return dataclasses.replace(found, url=url if found.data is not None else None)
    where = f"not in {folder}" if folder is not None else "no local image folder"
    return SourceImage(ref, url=url or None, detail=f"{where}, not fetched")


def read_source(path: Path, images: Path | None = None) -> Iterator[SourceItem | Reject]:
    """`path` is the folder holding data.jsonl (or the file); `images` the local image
    folder, by default `images_aar/` beside data.jsonl when it exists."""
    path = Path(path)
    records_file = path / RECORDS if path.is_dir() else path
    if images is None and (records_file.parent / "images_aar").is_dir():
        images = records_file.parent / "images_aar"
    for record in json_lines(records_file):
        if isinstance(record, Reject):
            yield record
            continue
        key, url = str(record.get("image/key") or ""), str(record.get("image/url") or "")
        image = local_image(Path(images) if images else None, key, url)
        yield SourceItem(NAME, key or url, (image,), (record,))


def convert(item: SourceItem, seed: int) -> dict | Reject:
    kept = checked_images(item)
    if isinstance(kept, Reject):
        return kept
    description = (item.records[0].get("IIW") or "").strip()
    if not description:
        return Reject(item.key, "bad_annotation", "empty IIW description")
    return cauldron_row(kept, [(prompts.draw(seed, NAME, item.id), description)], NAME)
