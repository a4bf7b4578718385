"""Docmatix rows: page images + QA texts, a `pdf` config, and WebDataset samples.

The schemas are the hub's: `images` a list of Image structs (PNG bytes) and
`texts` a list of {user, assistant, source}; the `pdf` config has the raw
PDF bytes instead of images. The `huggingface` schema metadata comes from
`datasets.Features`, so `load_dataset("parquet", ...)` decodes the images.
Each pair's `source` keeps the original's "PDFA key: <key>" and adds which
generator wrote it and the prompt id it was asked with.
"""

import hashlib
import json

import datasets
import pymupdf

from corpusio.shards import Sample
from docmatix.qa_records import PdfaDocument
from transcription.documents import MUPDF_LOCK
from transcription.page_images import docmatix_png, render_for_docmatix

TEXTS_FEATURE = [
    {
        "user": datasets.Value("string"),
        "assistant": datasets.Value("string"),
        "source": datasets.Value("string"),
    }
]
IMAGES_FEATURES = datasets.Features(
    {"images": datasets.Sequence(datasets.Image()), "texts": TEXTS_FEATURE}
)
PDF_FEATURES = datasets.Features({"pdf": datasets.Value("binary"), "texts": TEXTS_FEATURE})
IMAGES_SCHEMA = IMAGES_FEATURES.arrow_schema
PDF_SCHEMA = PDF_FEATURES.arrow_schema


def source_label(key: str, generator: str, prompt_id: int) -> str:
    return f"PDFA key: {key}; generator: {generator}; prompt: {prompt_id}"


def text_entry(key: str, question: str, answer: str, generator: str, prompt_id: int) -> dict:
    return {
        "user": question,
        "assistant": answer,
        "source": source_label(key, generator, prompt_id),
    }


class PagesMismatch(ValueError):
    """The PDF does not have the pages its transcription describes."""


def page_pngs(doc: PdfaDocument) -> list[bytes]:
    """The document's page images: from the sample, else rendered from its PDF at 150 dpi.

    Only the pages the transcription describes are rendered, one at a time; a
    PDF with another page count is refused before any page is rendered.
    """
    if doc.page_images is not None:
        return list(doc.page_images)
    if doc.pdf is None:
        raise ValueError(f"{doc.key}: no page images and no pdf to render them from")
    pngs = []
    with MUPDF_LOCK:
        pdf = pymupdf.open(stream=doc.pdf, filetype="pdf")
        if pdf.page_count != len(doc.page_texts):
            raise PagesMismatch(
                f"the pdf has {pdf.page_count} pages, its transcription {len(doc.page_texts)}"
            )
    for number in range(len(doc.page_texts)):
        with MUPDF_LOCK:
            shown = render_for_docmatix(pdf[number])
        pngs.append(docmatix_png(shown))
    return pngs


def images_row(texts: list[dict], pngs: list[bytes]) -> dict:
    return {"images": [{"bytes": png, "path": None} for png in pngs], "texts": texts}


def pdf_row(doc: PdfaDocument, texts: list[dict]) -> dict:
    return {"pdf": doc.pdf, "texts": texts}


def qa_sample(doc: PdfaDocument, texts: list[dict], pngs: list[bytes]) -> Sample:
    """The row as a WebDataset sample for the loader: json texts, page PNGs, the PDF."""
    members = {"json": json.dumps({"texts": texts}, ensure_ascii=False).encode()}
    for number, png in enumerate(pngs):
        members[f"{number:04d}.png"] = png
    if doc.pdf is not None:
        members["pdf"] = doc.pdf
    return Sample(doc.key, members)


def split_rank(key: str) -> str:
    """A stable pseudo-random rank of a document, for choosing a test split by key."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
