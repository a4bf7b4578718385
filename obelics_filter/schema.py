"""The OBELICS layout: `texts` and `images` of equal length, one non-null per position.

`images` holds Image structs ({bytes, path}): `path` is the image URL and
`bytes` the image when it was fetched or found in the WARC (null otherwise),
so `datasets` reads the column as images and the URLs stay. `metadata` is a
JSON list with a dict per image position (null at text positions), and
`general_metadata` JSON with the page URL and its WARC record pointer.
"""

import json

import datasets

from obelics_filter.records import ImageNode, TextNode, WebDocument

FEATURES = datasets.Features(
    {
        "texts": datasets.Sequence(datasets.Value("string")),
        "images": datasets.Sequence(datasets.Image()),
        "metadata": datasets.Value("string"),
        "general_metadata": datasets.Value("string"),
    }
)
SCHEMA = FEATURES.arrow_schema


def _image_metadata(node: ImageNode, doc: WebDocument) -> dict:
    data = doc.images.get(node.src)
    return {
        "src": node.src,
        "document_url": doc.page.url,
        "alt_text": node.alt,
        "rendered_width": node.rendered_width,
        "rendered_height": node.rendered_height,
        "original_width": data.width if data else None,
        "original_height": data.height if data else None,
        "format": data.format if data else None,
    }


def general_metadata(doc: WebDocument) -> dict:
    page = doc.page
    return {
        "url": page.url,
        "warc_filename": page.warc_filename,
        "warc_record_offset": page.warc_record_offset,
        "warc_record_length": page.warc_record_length,
        "warc_date": page.warc_date,
    }


def obelics_row(doc: WebDocument) -> dict:
    texts, images, metadata = [], [], []
    for node in doc.nodes:
        if isinstance(node, TextNode):
            texts.append(node.text)
            images.append(None)
            metadata.append(None)
        else:
            data = doc.images.get(node.src)
            texts.append(None)
            images.append({"bytes": data.data if data else None, "path": node.src})
            metadata.append(_image_metadata(node, doc))
    return {
        "texts": texts,
        "images": images,
        "metadata": json.dumps(metadata, ensure_ascii=False),
        "general_metadata": json.dumps(general_metadata(doc), ensure_ascii=False),
    }


def check_row(row: dict) -> list[str]:
    """Problems with a row's layout (empty list when it follows OBELICS)."""
    problems = []
    if len(row["texts"]) != len(row["images"]):
        problems.append("texts and images differ in length")
    for i, (text, image) in enumerate(zip(row["texts"], row["images"], strict=False)):
        if (text is None) == (image is None):
            problems.append(f"position {i}: exactly one of text and image must be set")
    metadata = json.loads(row["metadata"])
    if len(metadata) != len(row["texts"]):
        problems.append("metadata differs in length")
    return problems
