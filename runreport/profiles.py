"""What each pipeline's product looks like: distributions from a bounded sample of its outputs.

One function per pipeline turns the manifest's output paths into a list of
plots-to-be (Distribution, Categories) and Notes. Each distribution is
computed on its own, so one that fails leaves a note in its place.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from runreport.files import Files, join
from runreport.reading import Sampled, read_parquet, read_shard_indexes, read_shard_members


@dataclass(frozen=True)
class Distribution:
    """Values to draw as a histogram (`name` is the PNG's file stem)."""

    name: str
    title: str
    xlabel: str
    ylabel: str
    values: tuple[float, ...]
    basis: str
    integer: bool = True
    log_x: bool = False


@dataclass(frozen=True)
class Categories:
    """Counts per label, drawn as bars."""

    name: str
    title: str
    ylabel: str
    counts: tuple[tuple[str, int], ...]
    basis: str


@dataclass(frozen=True)
class Note:
    """Why a plot is missing, or what a reader should know about the sample."""

    title: str
    text: str


Item = Distribution | Categories | Note


def attempt(title: str, build: Callable[[], Item | None]) -> Item:
    """Build one item; a failure (or nothing to show) becomes a note with the reason."""
    try:
        item = build()
    except Exception as exc:  # noqa: BLE001 - one broken profile must not break the report
        return Note(title, f"could not be computed: {type(exc).__name__}: {exc}")
    return item if item is not None else Note(title, "no values in the sample")


def _skipped_note(what: str, sampled: Sampled) -> list[Note]:
    if not sampled.skipped:
        return []
    shown = sampled.skipped[:5]
    more = len(sampled.skipped) - len(shown)
    text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return [Note(f"{what}: unreadable files skipped", text)]


def _no_rows_note(what: str, pattern: str, sampled: Sampled) -> list[Note]:
    if sampled.rows:
        return []
    found = f"{sampled.files_total} file(s) matched" if sampled.files_total else "no files matched"
    return [Note(what, f"no rows could be read from {pattern} ({found})")]


def _hist(name, title, xlabel, ylabel, values, basis, **kw) -> Distribution | None:
    values = tuple(v for v in values if v is not None)
    if not values:
        return None
    return Distribution(name, title, xlabel, ylabel, values, basis, **kw)


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def pdf_transcribe(manifest: dict, files: Files, limit: int) -> list[Item]:
    """Pages per document, words per page, OCR confidence, page sources (the page table)."""
    pattern = manifest["outputs"]["pages"]
    pages = read_parquet(files, pattern, ["key", "source", "word_count", "mean_confidence"], limit)
    notes = _skipped_note("pages", pages) + _no_rows_note("pages", pattern, pages)
    if not pages.rows:
        return notes
    basis = pages.basis("pages")
    rows = pages.rows
    per_document = Counter(r["key"] for r in rows)
    if pages.limited and len(per_document) > 1:
        del per_document[rows[-1]["key"]]  # the limit may have cut its pages short
    return notes + [
        attempt(
            "pages per document",
            lambda: _hist(
                "pages_per_document",
                "Pages per document",
                "pages",
                "documents",
                per_document.values(),
                basis,
            ),
        ),
        attempt(
            "words per page",
            lambda: _hist(
                "words_per_page",
                "Words per page",
                "words",
                "pages",
                [r["word_count"] for r in rows],
                basis,
            ),
        ),
        attempt(
            "OCR confidence",
            lambda: _hist(
                "ocr_confidence",
                "OCR confidence",
                "mean word confidence of OCRed pages",
                "pages",
                [r["mean_confidence"] for r in rows if r["source"] == "ocr"],
                basis,
                integer=False,
            ),
        ),
        attempt(
            "page sources",
            lambda: Categories(
                "page_sources",
                "Page text source",
                "pages",
                tuple(sorted(Counter(r["source"] for r in rows).items())),
                basis,
            ),
        ),
    ]


def docmatix_qa(manifest: dict, files: Files, limit: int) -> list[Item]:
    """QA pairs per document and per page, answer length (the images config)."""
    pattern = join(manifest["outputs"]["data"], "*.parquet")
    data = read_parquet(files, pattern, ["texts", "images/path"], limit)
    notes = _skipped_note("data", data) + _no_rows_note("data", pattern, data)
    if not data.rows:
        return notes
    rows = data.rows
    basis = data.basis("documents")
    answers = [t["assistant"] for r in rows for t in r["texts"] or []]
    return notes + [
        attempt(
            "QA pairs per document",
            lambda: _hist(
                "qa_pairs_per_document",
                "QA pairs per document",
                "QA pairs",
                "documents",
                [len(r["texts"] or []) for r in rows],
                basis,
            ),
        ),
        attempt(
            "QA pairs per page",
            lambda: _hist(
                "qa_pairs_per_page",
                "QA pairs per page",
                "QA pairs / pages, per document",
                "documents",
                [len(r["texts"] or []) / len(r["images"]) for r in rows if r["images"]],
                basis,
                integer=False,
            ),
        ),
        attempt(
            "answer length",
            lambda: _hist(
                "answer_words",
                "Answer length",
                "words per answer",
                "answers",
                [_words(a) for a in answers],
                f"{len(answers):,} answers in the {basis}",
            ),
        ),
    ]


def _image_positions(row: dict) -> list[dict]:
    return [m for m in json.loads(row["metadata"] or "[]") if m]


def web_docs(manifest: dict, files: Files, limit: int) -> list[Item]:
    """Images per document, image sizes, words per document (the OBELICS rows)."""
    pattern = join(manifest["outputs"]["data"], "*.parquet")
    data = read_parquet(files, pattern, ["texts", "metadata"], limit)
    notes = _skipped_note("data", data) + _no_rows_note("data", pattern, data)
    if not data.rows:
        return notes
    rows = data.rows
    basis = data.basis("documents")

    def sizes():
        known = [
            max(m["original_width"], m["original_height"])
            for r in rows
            for m in _image_positions(r)
            if m.get("original_width") and m.get("original_height")
        ]
        if not known:
            return Note("image sizes", "no image sizes in the sample (images were not stored)")
        return _hist(
            "image_sizes",
            "Image size",
            "longest side (pixels)",
            "images",
            known,
            f"{len(known):,} stored images in the {basis}",
            log_x=True,
        )

    return notes + [
        attempt(
            "images per document",
            lambda: _hist(
                "images_per_document",
                "Images per document",
                "images",
                "documents",
                [len(_image_positions(r)) for r in rows],
                basis,
            ),
        ),
        attempt("image sizes", sizes),
        attempt(
            "words per document",
            lambda: _hist(
                "words_per_document",
                "Words per document",
                "words",
                "documents",
                [sum(_words(t) for t in r["texts"] or []) for r in rows],
                basis,
                log_x=True,
            ),
        ),
    ]


def cauldron_subset(manifest: dict, files: Files, limit: int) -> list[Item]:
    """Turns and images per row (the subset's train parquet)."""
    pattern = join(manifest["outputs"]["data"], "train-*.parquet")
    data = read_parquet(files, pattern, ["texts", "images/path"], limit)
    notes = _skipped_note("data", data) + _no_rows_note("data", pattern, data)
    if not data.rows:
        return notes
    rows = data.rows
    basis = data.basis("rows")
    return notes + [
        attempt(
            "turns per row",
            lambda: _hist(
                "turns_per_row",
                "Turns per row",
                "turns",
                "rows",
                [len(r["texts"] or []) for r in rows],
                basis,
            ),
        ),
        attempt(
            "images per row",
            lambda: _hist(
                "images_per_row",
                "Images per row",
                "images",
                "rows",
                [len(r["images"] or []) for r in rows],
                basis,
            ),
        ),
    ]


def _packed_file(entry: dict) -> tuple[str, int]:
    """(extension, size) of the packed file in an index entry (the member that is not json)."""
    members = {ext: span for ext, span in entry["members"].items() if ext != "json"}
    if len(members) != 1:
        raise ValueError(f"{entry['key']}: expected one packed file, got {sorted(members)}")
    ((ext, (_, size)),) = members.items()
    return ext, size


def pack_files(manifest: dict, files: Files, limit: int) -> list[Item]:
    """File sizes and types, from the shards' indexes (else from the shards themselves)."""
    pattern = join(manifest["outputs"]["shards"], "*.tar.index.json")
    index = read_shard_indexes(files, pattern, limit)
    if not index.files_total:
        pattern = join(manifest["outputs"]["shards"], "*.tar")
        index = read_shard_members(files, pattern, limit)
    notes = _skipped_note("shard indexes", index) + _no_rows_note("shard indexes", pattern, index)
    if not index.rows:
        return notes
    basis = index.basis("files")
    packed = [_packed_file(e) for e in index.rows]
    return notes + [
        attempt(
            "file sizes",
            lambda: _hist(
                "file_sizes",
                "File size",
                "bytes",
                "files",
                [s for _, s in packed],
                basis,
                log_x=True,
            ),
        ),
        attempt(
            "file types",
            lambda: Categories(
                "file_types",
                "File type (extension)",
                "files",
                tuple(sorted(Counter(ext for ext, _ in packed).items())),
                basis,
            ),
        ),
    ]


PROFILES: dict[str, Callable[[dict, Files, int], list[Item]]] = {
    "pdf_transcribe": pdf_transcribe,
    "docmatix_qa": docmatix_qa,
    "web_docs": web_docs,
    "cauldron_subset": cauldron_subset,
    "pack_files": pack_files,
}


def profile(manifest: dict, files: Files, limit: int) -> list[Item]:
    """The run's distributions; an unknown pipeline has none (the funnel still shows)."""
    build = PROFILES.get(manifest.get("pipeline", ""))
    if build is None:
        return []
    try:
        return build(manifest, files, limit)
    except Exception as exc:  # noqa: BLE001 - the report still shows the funnel
        return [Note("distributions", f"could not be computed: {type(exc).__name__}: {exc}")]
