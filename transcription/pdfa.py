"""The PDFA / IDL transcription layout: page json, its schema check, and the page table.

Per page: `lines` {text, bbox, score, word_slice} and `words` {text, bbox,
score, line_pos}, as column lists; words are in reading order and line i is
words[word_slice[i][0]:word_slice[i][1]]; `line_pos[j]` = [line index, index
of the word in its line]. Boxes are [x, y, w, h] normalised to the page
(0..1, origin top left). Beyond PDFA we add, per page: `width`, `height`
(PDF points, or pixels for image input), `source` (text_layer, ocr or vlm),
`source_reason`, `rotation` (degrees the page was turned to be upright),
`dpi` (of the OCR render, null for a text layer), `blocks` (regions in
reading order: {type, bbox, lines}), `markdown` (the page without page
headers, footers and numbers) and `lines.header_footer` (a flag per line).
"""

import pyarrow as pa

from transcription.records import FURNITURE, Box, PageText

DECIMALS = 5
SOURCES = ("text_layer", "ocr", "vlm")

PAGE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_reason", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("markdown", pa.string(), nullable=False),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("mean_confidence", pa.float32()),
        pa.field("width", pa.float32(), nullable=False),
        pa.field("height", pa.float32(), nullable=False),
        pa.field("rotation", pa.int16(), nullable=False),
    ]
)


def normalise(box: Box, width: float, height: float) -> list[float]:
    """(x0, y0, x1, y1) in page units -> [x, y, w, h] in 0..1, clipped to the page."""
    x0, y0, x1, y1 = (v / d for v, d in zip(box, (width, height, width, height), strict=True))
    x0 = 0.0 if x0 < 0.0 else 1.0 if x0 > 1.0 else x0
    x1 = 0.0 if x1 < 0.0 else 1.0 if x1 > 1.0 else x1
    y0 = 0.0 if y0 < 0.0 else 1.0 if y0 > 1.0 else y0
    y1 = 0.0 if y1 < 0.0 else 1.0 if y1 > 1.0 else y1
    return [
        round(x0, DECIMALS),
        round(y0, DECIMALS),
        round(x1 - x0, DECIMALS),
        round(y1 - y0, DECIMALS),
    ]


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def page_json(
    page: PageText, source: str, reason: str, rotation: int = 0, dpi: int | None = None
) -> dict:
    """One page of the PDFA layout from lines in reading order."""
    w, h = page.width, page.height
    words = {"text": [], "bbox": [], "score": [], "line_pos": []}
    lines = {"text": [], "bbox": [], "score": [], "word_slice": []}
    for line_index, line in enumerate(page.lines):
        start = len(words["text"])
        for position, word in enumerate(line.words):
            words["text"].append(word.text)
            words["bbox"].append(normalise(word.box, w, h))
            words["score"].append(round(word.score, 4))
            words["line_pos"].append([line_index, position])
        lines["text"].append(line.text)
        lines["bbox"].append(normalise(line.box, w, h))
        lines["score"].append(round(line.score, 4))
        lines["word_slice"].append([start, len(words["text"])])
    word_boxes = [word.box for line in page.lines for word in line.words]
    furniture = {i for block in page.blocks if block.type in FURNITURE for i in block.lines}
    lines["header_footer"] = [i in furniture for i in range(len(page.lines))]
    return {
        "lines": lines,
        "words": words,
        "images_bbox": [normalise(b, w, h) for b in page.images],
        "images_bbox_no_text_overlap": [
            normalise(b, w, h)
            for b in page.images
            if not any(_overlaps(b, wb) for wb in word_boxes)
        ],
        "width": round(w, 3),
        "height": round(h, 3),
        "source": source,
        "source_reason": reason,
        "rotation": rotation,
        "dpi": dpi,
        "blocks": [
            {"type": b.type, "bbox": normalise(b.box, w, h), "lines": list(b.lines)}
            for b in page.blocks
        ],
        "markdown": page.markdown,
    }


def page_text(page: dict) -> str:
    """The page's text as chug and Docmatix read it: its lines joined by newlines."""
    return "\n".join(page["lines"]["text"])


def page_row(key: str, number: int, page: dict) -> dict:
    """A row of the page table (PAGE_SCHEMA)."""
    scores = page["words"]["score"]
    return {
        "key": key,
        "page": number,
        "source": page["source"],
        "source_reason": page["source_reason"],
        "text": page_text(page),
        "markdown": page.get("markdown", ""),
        "word_count": len(page["words"]["text"]),
        "mean_confidence": (sum(scores) / len(scores)) if scores else None,
        "width": page["width"],
        "height": page["height"],
        "rotation": page["rotation"],
    }


def _check_box(box, where: str) -> list[str]:
    if not (
        isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)
    ):
        return [f"{where}: bbox must be 4 numbers, got {box!r}"]
    x, y, bw, bh = box
    if not (
        0 <= x <= 1
        and 0 <= y <= 1
        and 0 <= bw
        and 0 <= bh
        and x + bw <= 1.0001
        and y + bh <= 1.0001
    ):
        return [f"{where}: bbox {box!r} is not inside the page"]
    return []


def _check_columns(group: dict, names: tuple[str, ...], where: str) -> list[str]:
    if not isinstance(group, dict) or set(group) != set(names):
        found = sorted(group) if isinstance(group, dict) else group
        return [f"{where}: expected keys {sorted(names)}, got {found!r}"]
    lengths = {len(group[n]) for n in names}
    return [] if len(lengths) == 1 else [f"{where}: columns have different lengths {lengths}"]


def check_document(doc: dict) -> list[str]:
    """Problems with a transcription json (empty list when it follows the layout)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pages"), list):
        return ["document: expected an object with a 'pages' list"]
    problems = []
    for p, page in enumerate(doc["pages"]):
        where = f"page {p}"
        lines_group = page.get("lines")
        line_columns = ("text", "bbox", "score", "word_slice")
        if isinstance(lines_group, dict) and "header_footer" in lines_group:
            line_columns += ("header_footer",)
        problems += _check_columns(lines_group, line_columns, f"{where} lines")
        problems += _check_columns(
            page.get("words"), ("text", "bbox", "score", "line_pos"), f"{where} words"
        )
        if problems:
            continue
        lines, words = page["lines"], page["words"]
        expected_start = 0
        for i, (start, end) in enumerate(lines["word_slice"]):
            if start != expected_start or end < start:
                problems.append(f"{where} line {i}: word_slice {[start, end]} is not contiguous")
            expected_start = end
            if " ".join(words["text"][start:end]) != lines["text"][i]:
                problems.append(f"{where} line {i}: text differs from its words")
        if expected_start != len(words["text"]):
            problems.append(
                f"{where}: word_slices cover {expected_start} of {len(words['text'])} words"
            )
        for j, (line_index, position) in enumerate(words["line_pos"]):
            start, _ = (
                lines["word_slice"][line_index]
                if line_index < len(lines["word_slice"])
                else (None, None)
            )
            if start is None or start + position != j:
                problems.append(
                    f"{where} word {j}: line_pos {[line_index, position]} is inconsistent"
                )
        blocks = page.get("blocks", [])
        for i, block in enumerate(blocks):
            if not set(block.get("lines", [])) <= set(range(len(lines["text"]))):
                problems.append(f"{where} block {i}: lines out of range")
        for kind, boxes in (
            ("line", lines["bbox"]),
            ("word", words["bbox"]),
            ("image", page.get("images_bbox", [])),
            ("block", [b.get("bbox") for b in blocks]),
        ):
            for i, box in enumerate(boxes):
                problems += _check_box(box, f"{where} {kind} {i}")
        scores = lines["score"] + words["score"]
        if any(not (0 <= s <= 1) for s in scores):
            problems.append(f"{where}: scores must lie in 0..1")
        if page.get("source") not in SOURCES:
            problems.append(f"{where}: source must be one of {SOURCES}")
        if not (
            isinstance(page.get("width"), int | float)
            and page["width"] > 0
            and page.get("height", 0) > 0
        ):
            problems.append(f"{where}: width and height must be positive")
    return problems
