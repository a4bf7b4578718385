"""Per-document steps of the web stage around the Beam graph: extract, resolve, filter, keep.

Each function takes and returns plain records; a document that must go
becomes a `Reject` with the filter's reason. Node-level drops (an image too
small, a spammy paragraph) edit the document and are counted in its stats.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, replace

from corpusio.accounting import Reject
from corpusio.images import ImageData, ImageRejected, validate_image
from obelics_filter.dedup import newest_first
from obelics_filter.extract import extract_nodes
from obelics_filter.filters import check_document, check_page, filter_nodes
from obelics_filter.html_text import decode_html
from obelics_filter.records import ImageNode, TextNode, WebDocument, WebPage


def extract_document(page: WebPage) -> WebDocument | Reject:
    html = decode_html(page.html, page.http_headers)
    nodes = extract_nodes(html, page.url)
    if not any(isinstance(n, TextNode) for n in nodes):
        return Reject(page.url, "no_text", "nothing left after DOM simplification")
    return WebDocument(page, nodes)


@dataclass(frozen=True)
class ExtractedPage:
    """A page just read: its document (or why it has none) and the page gate's verdict.

    The document's page keeps its provenance but not its HTML, which is not
    needed once the document is extracted.
    """

    page: WebPage
    result: WebDocument | Reject
    gate: str | None = None


def extract_page(page: WebPage, config) -> ExtractedPage:
    """Opt-out check, extraction and the language gate for one page, in one go.

    An exception on one page becomes that page's `error` reject, so the other
    pages read with it go on.
    """
    try:
        if opted_out(page):
            tag = page.http_headers.get("x-robots-tag", "")
            result = Reject(page.url, "opted_out", tag)
        else:
            result = extract_document(page)
        gate = page_verdict(result, config) if isinstance(result, WebDocument) else None
    except Exception as exc:  # noqa: BLE001 - one bad page must not lose its neighbours
        result, gate = Reject(page.url, "error", f"{type(exc).__name__}: {exc}"[:1000]), None
    if isinstance(result, WebDocument):
        result = replace(result, page=replace(page, html=b""))
    return ExtractedPage(replace(page, html=b""), result, gate)


@dataclass(frozen=True)
class CheckedImage:
    """An image record of a crawl, validated: its data, or why it cannot be used."""

    url: str
    digest: str  # sha1 of the bytes: picks one record when a URL was captured twice
    value: ImageData | str


def check_image_record(url: str, data: bytes) -> CheckedImage:
    return CheckedImage(url, hashlib.sha1(data).hexdigest(), resolve(url, data))


def opted_out(page: WebPage) -> bool:
    """X-Robots-Tag noai / noimageai on the page itself: the page opted out of AI training."""
    tag = page.http_headers.get("x-robots-tag", "").lower()
    return "noai" in tag or "noimageai" in tag


def keep_newest(pages: list) -> list:
    """The newest capture first, then the others (to reject as duplicates)."""
    return sorted(pages, key=newest_first)


def image_urls(doc: WebDocument) -> list[str]:
    return sorted({n.src for n in doc.nodes if isinstance(n, ImageNode)})


def resolve(url: str, data: bytes) -> ImageData | str:
    """Validated image data, or the reason it cannot be used."""
    try:
        return validate_image(url, data)
    except ImageRejected as exc:
        return exc.reason


def attach_images(doc: WebDocument, resolved: dict[str, ImageData | str]) -> WebDocument:
    """The document with its usable images' data; unusable images leave as node drops later."""
    images = {url: value for url, value in resolved.items() if isinstance(value, ImageData)}
    return replace(doc, images=images)


def apply_node_filters(doc: WebDocument, config, image_mode: str) -> tuple[WebDocument, Counter]:
    """Drop images and paragraphs that fail their filters; count the drops by reason.

    With image data expected (modes warc and http) an image that could not be
    resolved is dropped as `image_unavailable`.
    """
    counts: Counter = Counter()
    nodes = []
    for node in doc.nodes:
        if image_mode != "none" and isinstance(node, ImageNode) and node.src not in doc.images:
            counts["image_unavailable"] += 1
            continue
        nodes.append(node)
    kept, dropped = filter_nodes(nodes, doc.images, config)
    counts.update(reason for _, reason in dropped)
    return replace(doc, nodes=_merge_texts(kept)), counts


def _merge_texts(nodes: list) -> list:
    """Adjacent texts (left after an image between them was dropped) become one."""
    merged: list = []
    for node in nodes:
        if merged and isinstance(node, TextNode) and isinstance(merged[-1], TextNode):
            merged[-1] = TextNode(f"{merged[-1].text}\n\n{node.text}")
        else:
            merged.append(node)
    return merged


def without_images(doc: WebDocument, banned: set[str]) -> tuple[WebDocument, int]:
    kept = [n for n in doc.nodes if not (isinstance(n, ImageNode) and n.src in banned)]
    return replace(doc, nodes=_merge_texts(kept)), len(doc.nodes) - len(kept)


def document_verdict(doc: WebDocument, config) -> str | None:
    texts = [n.text for n in doc.nodes if isinstance(n, TextNode)]
    n_images = sum(1 for n in doc.nodes if isinstance(n, ImageNode))
    return check_document(texts, n_images, config)


def page_verdict(doc: WebDocument, config) -> str | None:
    """The page-level gate on the unfiltered text: a foreign-language page is named as such."""
    return check_page([n.text for n in doc.nodes if isinstance(n, TextNode)], config)
