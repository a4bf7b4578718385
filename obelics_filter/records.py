"""Record types of the web stage: pages from WARC records, interleaved nodes, documents.

A web document is a list of nodes in reading order, each either text or an
image; it becomes the OBELICS layout (`texts` and `images` lists of equal
length, one non-null per position) only when written (obelics_filter.schema).
"""

from dataclasses import dataclass, field

from corpusio.images import ImageData


@dataclass(frozen=True)
class WebPage:
    """An HTML response record: the page's URL, raw body and where it came from."""

    url: str
    html: bytes
    http_headers: dict[str, str]  # lower-case names
    warc_filename: str
    warc_record_offset: int
    warc_record_length: int
    warc_date: str  # ISO 8601, as in the record's WARC-Date


@dataclass(frozen=True)
class TextNode:
    text: str


@dataclass(frozen=True)
class ImageNode:
    """An image in the page: absolute URL, alt text, and the size the HTML asked for."""

    src: str
    alt: str = ""
    rendered_width: int | None = None
    rendered_height: int | None = None


Node = TextNode | ImageNode


@dataclass
class WebDocument:
    """A page after extraction: nodes in order, plus the page's provenance."""

    page: WebPage
    nodes: list[Node]
    images: dict[str, ImageData] = field(default_factory=dict)  # by src, when resolved
