"""What every converter reads and returns.

`read_source` yields `SourceItem`s: one future Cauldron row each, holding the native
records it came from and its images as bytes (or, for sources that only give a URL, the
URL to fetch). `convert` turns an item into a row or a `Reject`; it never raises for bad
data, so one broken record is counted instead of stopping a run.
"""

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from corpusio.accounting import Reject
from corpusio.images import ImageRejected, validate_image

MISSING = "image_missing"


@dataclasses.dataclass(frozen=True)
class SourceImage:
    """One image of an item: `data` when a local copy was found, else `url` to fetch it.

    `ref` names where the image was looked for (a file, a zip member, a parquet cell), and
    `reason`/`detail` say why there are no bytes, for the reject.
    """

    ref: str
    data: bytes | None = None
    url: str | None = None
    reason: str = MISSING
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class SourceItem:
    """One future row: `records` are the native records grouped into it, in source order."""

    subset: str
    id: str
    images: tuple[SourceImage, ...]
    records: tuple[dict, ...]

    @property
    def key(self) -> str:
        return f"{self.subset}/{self.id}"

    def urls_to_fetch(self) -> list[str]:
        """URLs of the images that still need bytes."""
        return [image.url for image in self.images if image.data is None and image.url]

    def with_fetched(self, results: Mapping[str, object]) -> "SourceItem":
        """The item with fetched bytes filled in.

        `results` maps URL -> a `corpusio.images.ImageData` (has `.data`) or a
        `FetchFailure` (has `.reason`), as `ImageFetcher.fetch_many` returns them.
        """
        images = []
        for image in self.images:
            result = results.get(image.url) if image.data is None and image.url else None
            if result is None:
                images.append(image)
            elif getattr(result, "data", None) is not None:
                images.append(dataclasses.replace(image, data=result.data))
            else:
                reason = getattr(result, "reason", "unknown")
                images.append(
                    dataclasses.replace(
                        image,
                        reason=f"fetch_{reason}",
                        detail=getattr(result, "detail", ""),
                    )
                )
        return dataclasses.replace(self, images=tuple(images))


class Converter(NamedTuple):
    name: str
    read_source: Callable[..., Iterator[SourceItem]]
    convert: Callable[[SourceItem, int], dict | Reject]


def checked_images(item: SourceItem) -> list[bytes] | Reject:
    """The item's image bytes, unchanged, if every one is present and decodes fully."""
    kept = []
    for image in item.images:
        if image.data is None:
            where = f"; url {image.url}" if image.url else ""
            detail = image.detail or "no local copy"
            return Reject(item.key, image.reason, f"{image.ref}: {detail}{where}")
        try:
            validate_image(image.ref, image.data)
        except ImageRejected as exc:
            return Reject(item.key, exc.reason, f"{image.ref}: {exc.detail}")
        kept.append(image.data)
    if not kept:
        return Reject(item.key, "no_image", "the record names no image")
    return kept
