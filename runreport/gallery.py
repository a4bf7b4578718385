"""A few samples of the product, as a reader would meet them: page images, QA, documents.

Samples come from the first shard(s); images are shrunk to thumbnails and
embedded, so the report stays one small self-contained file.
"""

import base64
import io
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field

from PIL import Image

from runreport.files import Files, join
from runreport.profiles import Note
from runreport.reading import iter_shard_samples

GALLERY_SIZE = 3
THUMBNAIL_SIDE = 400
MAX_IMAGES = 6
MAX_TURNS = 5
MAX_POSITIONS = 16
MAX_TEXT = 600
_IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "gif", "tif", "tiff", "bmp", "img")


@dataclass(frozen=True)
class Part:
    """One piece of a card: "image" (a data URI), "text", "url" (an image not stored),
    "turn" (a question and its answer) or "note"."""

    kind: str
    text: str = ""
    image: str = ""
    answer: str = ""


@dataclass(frozen=True)
class Card:
    title: str
    subtitle: str = ""
    parts: tuple[Part, ...] = field(default_factory=tuple)


def thumbnail(data: bytes, side: int = THUMBNAIL_SIDE) -> str:
    """A JPEG data URI of the image shrunk to fit `side` pixels."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            shown = Image.new("RGB", rgba.size, "white")
            shown.paste(rgba, mask=rgba.getchannel("A"))
        else:
            shown = image.convert("RGB")
    out = io.BytesIO()
    shown.save(out, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def image_part(data: bytes, alt: str) -> Part:
    try:
        return Part("image", text=alt, image=thumbnail(data))
    except Exception as exc:  # noqa: BLE001 - an undecodable image is shown as a note
        return Part("note", text=f"{alt}: image not shown ({type(exc).__name__}: {exc})")


def _clip(text: str, size: int = MAX_TEXT) -> str:
    text = (text or "").strip()
    return text if len(text) <= size else text[:size].rstrip() + " …"


def _images(sample: dict) -> list[tuple[str, bytes]]:
    """(member extension, bytes) of the sample's images in member order."""
    return sorted(
        (ext, data)
        for ext, data in sample.items()
        if ext != "__key__" and ext.rsplit(".", 1)[-1].lower() in _IMAGE_EXTS
    )


def _turns(texts: list[dict]) -> list[Part]:
    parts = [
        Part("turn", text=_clip(t.get("user", "")), answer=_clip(t.get("assistant", "")))
        for t in texts[:MAX_TURNS]
    ]
    if len(texts) > MAX_TURNS:
        parts.append(Part("note", text=f"and {len(texts) - MAX_TURNS} more turns"))
    return parts


def pdf_card(sample: dict) -> Card:
    doc = json.loads(sample["json"])
    pages = doc.get("pages", [])
    first = pages[0] if pages else {}
    images = _images(sample)
    parts = [image_part(images[0][1], "page 1")] if images else []
    if not images:
        parts.append(Part("note", text="no page image in the shard (run with --render-pages)"))
    parts.append(Part("text", text=_clip("\n".join(first.get("lines", {}).get("text", [])))))
    meta = doc.get("meta", {})
    subtitle = (
        f"{meta.get('source', '')} · {len(pages)} page(s) · page 1 text from "
        f"{first.get('source', '?')} ({first.get('source_reason', '?')})"
    )
    return Card(sample["__key__"], subtitle, tuple(parts))


def qa_card(sample: dict) -> Card:
    texts = json.loads(sample["json"]).get("texts", [])
    images = _images(sample)
    parts = [image_part(images[0][1], "page 1")] if images else []
    subtitle = f"{len(images)} page(s), page 1 shown · {len(texts)} QA pair(s)"
    return Card(sample["__key__"], subtitle, tuple(parts + _turns(texts)))


def web_card(sample: dict) -> Card:
    """The document in reading order: text, stored images, or the URL of an image not stored."""
    doc = json.loads(sample["json"])
    stored = {ext.split(".", 1)[0]: data for ext, data in _images(sample)}
    url = json.loads(doc.get("general_metadata") or "{}").get("url", "")
    parts, shown = [], 0
    positions = list(zip(doc["texts"], doc["images"], strict=False))
    for position, (text, src) in enumerate(positions[:MAX_POSITIONS]):
        if text is not None:
            parts.append(Part("text", text=_clip(text, 400)))
            continue
        data = stored.get(f"{position:03d}")
        if data is not None and shown < MAX_IMAGES:
            parts.append(image_part(data, src or ""))
            shown += 1
        else:
            parts.append(Part("url", text=src or ""))
    if len(positions) > MAX_POSITIONS:
        parts.append(Part("note", text=f"and {len(positions) - MAX_POSITIONS} more positions"))
    subtitle = f"{url} · {len(doc['texts'])} positions, {len(stored)} stored image(s)"
    return Card(sample["__key__"], subtitle, tuple(parts))


def cauldron_card(sample: dict) -> Card:
    texts = json.loads(sample["json"]).get("texts", [])
    images = _images(sample)
    parts = [image_part(data, f"image {n + 1}") for n, (_, data) in enumerate(images[:2])]
    subtitle = f"{len(images)} image(s) · {len(texts)} turn(s)"
    return Card(sample["__key__"], subtitle, tuple(parts + _turns(texts)))


def _shards(manifest: dict) -> str | None:
    outputs = manifest["outputs"]
    if manifest["pipeline"] == "cauldron_subset":
        return join(outputs["data"], "shards", "*.tar")
    return join(outputs["shards"], "*.tar") if "shards" in outputs else None


CARDS: dict[str, Callable[[dict], Card]] = {
    "pdf_transcribe": pdf_card,
    "docmatix_qa": qa_card,
    "web_docs": web_card,
    "cauldron_subset": cauldron_card,
}


def _first(samples: Iterator[dict], count: int) -> list[dict]:
    taken = []
    with closing(samples):
        for sample in samples:
            taken.append(sample)
            if len(taken) >= count:
                break
    return taken


def gallery(manifest: dict, files: Files, count: int = GALLERY_SIZE) -> list[Card | Note]:
    """Cards for the first samples of the run's shards; notes for what could not be shown."""
    make = CARDS.get(manifest.get("pipeline", ""))
    if make is None:
        return []
    items: list[Card | Note] = []
    skipped: list[str] = []
    try:
        pattern = _shards(manifest)
        samples = _first(iter_shard_samples(files, pattern, skipped), count)
    except Exception as exc:  # noqa: BLE001 - the gallery is optional
        return [Note("samples", f"could not be read: {type(exc).__name__}: {exc}")]
    for sample in samples:
        try:
            items.append(make(sample))
        except Exception as exc:  # noqa: BLE001 - one odd sample must not hide the others
            key = sample.get("__key__", "?")
            items.append(Note(f"sample {key}", f"not shown: {type(exc).__name__}: {exc}"))
    items += [Note("samples: unreadable shard skipped", s) for s in skipped]
    if not samples and not skipped:
        items.append(Note("samples", f"no samples found in {pattern}"))
    return items
