"""The small records that travel through Beam in place of payloads.

Whatever crosses a shuffle (GroupByKey, CoGroupByKey, Reshuffle, side input)
is one of these: keys, digests, sizes, verdicts and `Stored` references to
payloads in part files (pipelines.parts). They live in a module of their own
(not in a pipeline module, which may run as __main__) so that any process can
unpickle them by name.
"""

from dataclasses import dataclass, field

from pipelines.parts import Stored


@dataclass(frozen=True, slots=True)
class ShardEntry:
    """A stored sample as the shard planner sees it."""

    key: str
    digest: str
    size: int  # bytes inside a tar
    stored: Stored


@dataclass(frozen=True, slots=True)
class RowEntry:
    """A stored table row as the Parquet sink sees it."""

    digest: str
    size: int  # estimated bytes (corpusio.tables.row_bytes)
    stored: Stored


@dataclass(frozen=True)
class StoredTranscript:
    """A transcript once its sample and page rows are stored: what the sinks need."""

    shard: ShardEntry
    rows: list[RowEntry]
    stats: dict[str, int] = field(default_factory=dict)


# --- web documents (pipelines.web_docs) --------------------------------------------


@dataclass(frozen=True)
class WarcRange:
    """Records of one WARC file that begin in [start, end) bytes (end None: to the end)."""

    path: str
    start: int
    end: int | None
    problem: str | None = None  # a reject reason found while matching the file
    size: int = 0  # of the whole file

    @property
    def id(self) -> str:
        """Names the range and the file's size, so saved work is not replayed for another split
        or a file that changed."""
        return f"{self.path}@{self.start}-{self.end}/{self.size}"


@dataclass(frozen=True)
class StoredImage:
    """An image resolved for a document: what decoding it told, and where its bytes are."""

    width: int
    height: int
    format: str
    stored: Stored


@dataclass(frozen=True)
class ImageUnit:
    """An image record of the input WARCs, validated: a StoredImage or why it cannot be used."""

    url: str
    digest: str  # of the bytes: picks one record when a URL was captured more than once
    value: StoredImage | str


@dataclass(frozen=True)
class WebDocRef:
    """A web document as the graph carries it: provenance, verdicts, and its stored version.

    `doc` points to the document as the last step that changed it left it; the
    fields after it are filled in as the document moves along.
    """

    url: str
    warc_date: str
    warc_filename: str
    warc_record_offset: int
    doc: Stored
    image_urls: tuple[str, ...] = ()
    gate: str | None = None  # the page gate's verdict, computed with the extraction
    images: dict = field(default_factory=dict)  # image URL -> StoredImage | reason
    image_set: str | None = None
    bands: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageUnit:
    """An HTML record, already extracted where it was read: its document or why there is none."""

    url: str
    url_key: str
    warc_date: str
    warc_filename: str
    warc_record_offset: int
    result: object  # WebDocRef or corpusio.accounting.Reject


# --- document QA (pipelines.docmatix_qa) ----------------------------------------------


@dataclass(frozen=True)
class SelectedRef:
    """A document chosen for QA: its stored SelectedDoc and each chunk's stored request."""

    key: str
    doc: Stored
    requests: tuple[tuple[str, Stored], ...]  # (chunk id, stored ChatRequest)
    pages: int
    source: str = ""  # where the sample was read: "<tar>@<position>"


@dataclass(frozen=True)
class AssembledRef:
    """A document's QA, stored in every output form: image-config row, pdf rows, sample."""

    key: str
    images_row: RowEntry
    pdf_rows: tuple[RowEntry, ...]
    shard: ShardEntry
    stats: dict[str, int] = field(default_factory=dict)
