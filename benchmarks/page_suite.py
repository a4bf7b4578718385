"""A page-level test suite for transcription, in the unit-test style of olmOCR-bench.

Each check looks at one page's text as a transcriber gives it: a passage must
be present, a running head or page number must be absent, passage A must come
before passage B, two table cells must be neighbours (side by side, or one
above the other). Text is compared after a light normalisation (Unicode NFKC,
quotes and dashes folded, Markdown emphasis and tags removed, whitespace
collapsed), as such suites do.

Cases are PDFs generated here (a table with a spanning header, running heads
and page numbers, two columns with headings side by side, TeX accents and
ligatures, a heading drawn as an image) and, when BENCH_PDF_DIR names a folder of
them (the test suite passes its real-data folder), pages of real PDFs.
`python -m benchmarks.page_suite` prints pass rates and pages per second of our
transcription (`--layout model` and `fast`), bare PyMuPDF `get_text()` and
pymupdf4llm's `to_markdown`.
"""

import html
import io
import os
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw, ImageFont

REAL_PDFS = os.environ.get("BENCH_PDF_DIR")  # a folder holding the real PDFs named below
_FONT = Path(ImageFont.__file__).parent  # Pillow ships no TTF: use matplotlib's DejaVu
_TTF = None


# --- checks ----------------------------------------------------------------------------


_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)
_TAGS = re.compile(r"</?(?:sup|sub|b|i|em|strong|br)\s*/?>", re.I)
_EMPHASIS = re.compile(r"[*_`#]+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", html.unescape(text)).translate(_FOLD)
    text = _EMPHASIS.sub("", _TAGS.sub(" ", text))
    return " ".join(text.split())


@dataclass(frozen=True)
class Check:
    kind: str  # present | absent | order | right_of | below
    a: str
    b: str = ""

    def passes(self, text: str) -> bool:
        flat = normalise(text)
        a, b = normalise(self.a), normalise(self.b)
        if self.kind == "present":
            return a in flat
        if self.kind == "absent":
            return a not in flat
        if self.kind == "order":
            return a in flat and b in flat and flat.index(a) < flat.rindex(b)
        return any(_neighbours(table, a, b, self.kind) for table in tables_of(text))


def _neighbours(table: list[list[str]], a: str, b: str, kind: str) -> bool:
    cells = {(r, c): normalise(v) for r, row in enumerate(table) for c, v in enumerate(row)}
    for (r, c), value in cells.items():
        if value != a:
            continue
        other = (r, c + 1) if kind == "right_of" else (r + 1, c)
        if cells.get(other) == b:
            return True
    return False


_HTML_TABLE = re.compile(r"<table.*?</table>", re.S | re.I)
_HTML_ROW = re.compile(r"<tr.*?</tr>", re.S | re.I)
_HTML_CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S | re.I)


def tables_of(text: str) -> list[list[list[str]]]:
    """Tables in a text: Markdown pipe tables and HTML tables, as rows of cell texts."""
    tables = []
    for match in _HTML_TABLE.finditer(text):
        rows = [
            [re.sub(r"<[^>]+>", " ", cell) for cell in _HTML_CELL.findall(row)]
            for row in _HTML_ROW.findall(match.group(0))
        ]
        tables.append(rows)
    current: list[list[str]] = []
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


@dataclass
class Case:
    name: str
    pdf: Callable[[], bytes]
    page: int
    checks: list[Check] = field(default_factory=list)


# --- generated PDFs --------------------------------------------------------------------------


def _ttf() -> str:
    global _TTF
    if _TTF is None:
        import matplotlib

        _TTF = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    return _TTF


def _page(doc: pymupdf.Document) -> pymupdf.Page:
    page = doc.new_page(width=612, height=792)
    page.insert_font(fontname="dv", fontfile=_ttf())
    return page


def _text(page, x, y, text, size=10.0):
    page.insert_text((x, y), text, fontname="dv", fontsize=size)


def _paragraph(page, x, y, lines, size=10.0, leading=13.0) -> float:
    for line in lines:
        _text(page, x, y, line, size)
        y += leading
    return y


def _bytes(doc: pymupdf.Document) -> bytes:
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


RUNNING_HEAD = "Riverbend Water Authority \u2014 Annual Report 2024"
REPORT_BODY = [
    [
        "The treatment plant processed a record volume of water this year,",
        "and the new filters reduced the turbidity of the outflow by a third.",
    ],
    [
        "Maintenance crews replaced eleven kilometres of ageing mains in the",
        "northern district, which cut the number of reported leaks in half.",
    ],
    [
        "Customer service answered most calls within two minutes, and the",
        "new billing portal was used by more than forty thousand households.",
    ],
]


def running_heads() -> bytes:
    doc = pymupdf.open()
    for number in range(3):
        page = _page(doc)
        _text(page, 72, 40, RUNNING_HEAD, 9)
        y = 120
        for paragraph in REPORT_BODY:
            y = _paragraph(page, 72, y, paragraph) + 12
        _text(page, 280, 760, f"Page {number + 1} of 3", 9)
    return _bytes(doc)


METHODS = [
    "Samples were taken weekly from",
    "twelve wells across the valley",
    "and kept cold until analysis.",
]
RESULTS = [
    "Nitrate levels fell in nine of",
    "the twelve wells, most sharply",
    "near the restored wetlands.",
]


def two_columns() -> bytes:
    doc = pymupdf.open()
    page = _page(doc)
    _text(page, 72, 80, "Groundwater Survey", 16)
    _text(page, 72, 130, "2. Methods", 12)
    _text(page, 330, 130, "3. Results", 12)
    _paragraph(page, 72, 150, METHODS)
    _paragraph(page, 330, 150, RESULTS)
    return _bytes(doc)


TABLE = [["Region", "Q1", "Q2", "Q3"], ["North", "12", "15", "18"], ["South", "9", "11", "14"]]


def spanning_table() -> bytes:
    doc = pymupdf.open()
    page = _page(doc)
    _text(page, 72, 80, "Sales by region", 14)
    x0, y0, col, row = 72, 110, 110, 24
    page.draw_rect(pymupdf.Rect(x0, y0, x0 + 4 * col, y0 + 4 * row), width=0.8)
    _text(page, x0 + col + 100, y0 + 16, "Units sold", 10)  # over Q1..Q3
    for r in range(1, 4):
        page.draw_line((x0, y0 + r * row), (x0 + 4 * col, y0 + r * row), width=0.8)
    for c in range(1, 4):
        top = y0 if c == 1 else y0 + row
        page.draw_line((x0 + c * col, top), (x0 + c * col, y0 + 4 * row), width=0.8)
    for r, cells in enumerate(TABLE, start=1):
        for c, value in enumerate(cells):
            _text(page, x0 + c * col + 8, y0 + r * row + 16, value, 10)
    return _bytes(doc)


def tex_text() -> bytes:
    doc = pymupdf.open()
    page = _page(doc)
    _paragraph(
        page,
        72,
        100,
        [
            "Letters from J\u00b4an Min\u00b4a\u02c7c and Andr\u00b4e Ne\u02c7set\u02c7ril",
            "describe the \ufb01rst \ufb02ight of the \u2018\u2018Silver Swift\u2019\u2019 glider,",
            "a na\u00a8\u0131ve but daring exam-",
            "ple of amateur engineering.",
        ],
    )
    return _bytes(doc)


HEADING_IMAGE = "Quarterly Safety Bulletin"


def heading_image() -> bytes:
    image = Image.new("L", (1200, 140), 255)
    ImageDraw.Draw(image).text((20, 30), HEADING_IMAGE, fill=0, font=ImageFont.truetype(_ttf(), 72))
    out = io.BytesIO()
    image.save(out, "PNG")
    doc = pymupdf.open()
    page = _page(doc)
    page.insert_image(pymupdf.Rect(72, 60, 472, 107), stream=out.getvalue())
    _paragraph(
        page,
        72,
        140,
        [
            "All staff must complete the updated ladder training before the",
            "end of the month. Report near misses through the new online form.",
        ],
    )
    return _bytes(doc)


def generated_cases() -> list[Case]:
    body = " ".join(REPORT_BODY[1])
    return [
        Case(
            "running heads and page numbers",
            running_heads,
            1,
            [
                Check("absent", RUNNING_HEAD),
                Check("absent", "Page 2 of 3"),
                Check("present", body),
                Check("order", REPORT_BODY[0][0], REPORT_BODY[2][0]),
            ],
        ),
        Case(
            "two columns with headings side by side",
            two_columns,
            0,
            [
                Check("order", "2. Methods", " ".join(METHODS)),
                Check("order", " ".join(METHODS), "3. Results"),
                Check("order", "3. Results", " ".join(RESULTS)),
            ],
        ),
        Case(
            "a table with a spanning header",
            spanning_table,
            0,
            [
                Check("right_of", "North", "12"),
                Check("right_of", "12", "15"),
                Check("right_of", "South", "9"),
                Check("below", "Q1", "12"),
                Check("below", "12", "9"),
            ],
        ),
        Case(
            "TeX accents, ligatures, quotes, a hyphenated word",
            tex_text,
            0,
            [
                Check("present", "J\u00e1n Min\u00e1\u010d"),
                Check("present", "Andr\u00e9 Ne\u0161et\u0159il"),
                Check("present", "the first flight"),
                Check("present", "\u201cSilver Swift\u201d"),
                Check("present", "na\u00efve"),
                Check("present", "daring example of amateur engineering"),
            ],
        ),
        Case(
            "a heading drawn as an image",
            heading_image,
            0,
            [
                Check("present", HEADING_IMAGE),
                Check("order", HEADING_IMAGE, "All staff must complete"),
            ],
        ),
    ]


# --- real PDFs (BENCH_PDF_DIR) -----------------------------------------------------------


def real_cases(folder: str | Path | None = REAL_PDFS) -> list[Case]:
    """Checks on pages of public real PDFs, when `folder` holds them."""
    if not folder or not Path(folder).is_dir():
        return []
    folder = Path(folder)

    def _real(name: str) -> Callable[[], bytes]:
        return lambda: (folder / name).read_bytes()

    register = "gov_federal-register-2020-17221_3col.pdf"
    head = "Federal Register / Vol. 85, No. 152 / Thursday, August 6, 2020 / Proposed Rules"
    return [
        Case(
            "Federal Register, three columns, running head",
            _real(register),
            1,
            [
                Check("absent", head),
                Check("present", "Investigation of the accident has been completed"),
                Check("order", "resulting in 189 fatalities", "Following the Lion Air"),
            ],
        ),
        Case(
            "Federal Register, first page",
            _real(register),
            0,
            [
                Check("present", "DEPARTMENT OF TRANSPORTATION"),
                Check("order", "SUMMARY: The FAA proposes to supersede", "DATES:"),
            ],
        ),
        Case(
            "TraceMonkey paper, two columns",
            _real("sci-paper_tracemonkey_2col.pdf"),
            0,
            [
                Check(
                    "present",
                    "Dynamic languages such as JavaScript are more difficult to compile "
                    "than statically typed ones.",
                ),
                Check("order", "Abstract", "1. Introduction"),
                Check("order", "Dynamic languages such as JavaScript", "Categories and Subject"),
            ],
        ),
        Case(
            "TraceMonkey paper, ligatures and TeX accents",
            _real("sci-paper_tracemonkey_2col.pdf"),
            1,
            [
                Check("present", "Nested loops can be difficult to optimize for tracing VMs"),
                Check("present", "In a na\u00efve implementation"),
                Check("present", "if control flow is different"),
            ],
        ),
        Case(
            "MMWR table",
            _real("table_icdar2013_us-023_mmwr.pdf"),
            1,
            [
                Check("right_of", "Median household income", "$49,497"),
                Check("right_of", "$49,497", "$51,295"),
                Check("below", "1997", "$49,497"),
            ],
        ),
        Case(
            "NICS firearm checks table",
            _real("table_fbi-nics-2015-11.pdf"),
            0,
            [
                Check("right_of", "Alabama", "18,870"),
                Check("right_of", "Alaska", "209"),
                Check("below", "Alabama", "Alaska"),
            ],
        ),
        Case(
            "Supreme Court transcript",
            _real("transcript_scotus-p1.pdf"),
            0,
            [
                Check(
                    "present",
                    "The above-entitled matter came on for oral argument before the "
                    "Supreme Court of the United States",
                ),
                Check("order", "IN THE SUPREME COURT OF THE UNITED STATES", "APPEARANCES:"),
            ],
        ),
        Case(
            "Dutch invoice",
            _real("invoice_nl_lenze.pdf"),
            0,
            [
                Check("present", "Supertape B.V."),
                Check("order", "Factuurontvanger:", "Supertape B.V."),
            ],
        ),
        Case(
            "Illustrated book, prose",
            _real("book_pdkids-illustrated_55p.pdf"),
            6,
            [
                Check("present", "The man greatly enriched himself by selling the metal."),
                Check("order", "set his net in the river", "reached a large house"),
            ],
        ),
    ]


def all_cases() -> list[Case]:
    return generated_cases() + real_cases()


# --- engines and the score ---------------------------------------------------------------


def ours(layout: str) -> Callable[[bytes], list[str]]:
    from transcription.transcribe import TranscribeOptions, transcribe

    def pages(data: bytes) -> list[str]:
        transcript = transcribe("case.pdf", data, TranscribeOptions(layout=layout))
        return [page["markdown"] for page in transcript.pages]

    return pages


def bare_get_text(data: bytes) -> list[str]:
    return [page.get_text() for page in pymupdf.open(stream=data, filetype="pdf")]


def bare_to_markdown(data: bytes) -> list[str]:
    import pymupdf4llm

    doc = pymupdf.open(stream=data, filetype="pdf")
    chunks = pymupdf4llm.to_markdown(doc, header=False, footer=False, page_chunks=True)
    return [chunk["text"] for chunk in chunks]


ENGINES = {
    "ours, --layout model": ours("model"),
    "ours, --layout fast": ours("fast"),
    "PyMuPDF get_text()": bare_get_text,
    "pymupdf4llm to_markdown": bare_to_markdown,
}


def score(engine: Callable[[bytes], list[str]], cases: list[Case]) -> dict:
    """Checks passed, checks run, failures, and pages/s over the distinct PDFs."""
    texts, pages, seconds = {}, 0, 0.0
    for case in cases:
        if case.name not in texts:
            data = case.pdf()
            start = time.perf_counter()
            result = engine(data)
            seconds += time.perf_counter() - start
            pages += len(result)
            texts[case.name] = result
    passed, failed = 0, []
    for case in cases:
        text = texts[case.name][case.page]
        for check in case.checks:
            if check.passes(text):
                passed += 1
            else:
                failed.append(f"{case.name}: {check.kind} {check.a!r} {check.b!r}".strip())
    total = sum(len(c.checks) for c in cases)
    return {"passed": passed, "total": total, "failed": failed, "pages_per_s": pages / seconds}


def main() -> dict:
    """Print each engine's pass rate and speed; returns them by engine."""
    cases = all_cases()
    print(f"{len(cases)} pages, {sum(len(c.checks) for c in cases)} checks")
    results = {}
    for name, engine in ENGINES.items():
        result = score(engine, cases)
        rate = result["passed"] / result["total"]
        print(f"{name:<28} {rate:6.1%}  {result['pages_per_s']:7.1f} pages/s")
        for failure in result["failed"]:
            print(f"    fails: {failure}")
        results[name] = result
    return results


if __name__ == "__main__":
    main()
