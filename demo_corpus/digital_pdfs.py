"""Digitally born PDFs: a report, a two-column paper, an invoice and a form.

They exercise the text-layer path of the PDF stage: every page has real
text (Base-14 fonts only, so nothing depends on fonts installed here), and
the facts returned with each file say what that text must contain. The
layout helpers here are shared with `scans`, which lays out its pages the
same way before rasterising them.
"""

import io
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw

from demo_corpus.text import TextGen, money

OUT_DIR = "pdf/digital"
A4 = pymupdf.paper_rect("a4")
MARGIN = 60
PDF_DATE = "D:20240101000000Z"

BODY = "tiro"
SANS = "helv"
BOLD = "hebo"
ITALIC = "tiit"


def wrap(text: str, width: float, font: str, size: float) -> list[str]:
    """Greedy word wrap by measured width, so lines never run past the column."""
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and pymupdf.get_text_length(candidate, fontname=font, fontsize=size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def write_lines(page, lines, x, y, font=BODY, size=11.0, leading=None, render_mode=0) -> float:
    """Draw lines from baseline `y` down; return the baseline after the last one."""
    leading = leading or size * 1.3
    for line in lines:
        page.insert_text((x, y), line, fontname=font, fontsize=size, render_mode=render_mode)
        y += leading
    return y


def paragraph(page, text, x, y, width, font=BODY, size=11.0, leading=None, bottom=None) -> float:
    """Wrap and draw a paragraph; return the baseline for the next block."""
    leading = leading or size * 1.3
    lines = wrap(text, width, font, size)
    end = write_lines(page, lines, x, y, font, size, leading)
    if bottom is not None and end - leading > bottom:
        raise ValueError(f"text runs past the page bottom ({end:.0f} > {bottom:.0f})")
    return end + leading * 0.5


def save_pdf(doc: pymupdf.Document, path: Path, title: str, author: str) -> None:
    """Save with fixed dates and no /ID, so the same seed gives the same bytes."""
    doc.set_metadata(
        {
            "title": title,
            "author": author,
            "subject": "demo corpus",
            "creator": "demo_corpus",
            "producer": "demo_corpus",
            "creationDate": PDF_DATE,
            "modDate": PDF_DATE,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(doc))


def pdf_bytes(doc: pymupdf.Document) -> bytes:
    """One content stream per page, unused objects dropped, and no fresh random /ID."""
    for page in doc:
        page.clean_contents()
    return doc.tobytes(garbage=4, deflate=True, no_new_id=True)


def footer(page, number: int, total: int) -> None:
    label = f"Page {number} of {total}"
    width = pymupdf.get_text_length(label, fontname=SANS, fontsize=9)
    page.insert_text(
        ((page.rect.width - width) / 2, page.rect.height - 30), label, fontname=SANS, fontsize=9
    )


def chart_png(gen: TextGen) -> bytes:
    """A small bar chart, so the report has one raster image with a known box."""
    image = Image.new("RGB", (300, 180), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.line((30, 160, 290, 160), fill=(40, 40, 40), width=2)
    draw.line((30, 10, 30, 160), fill=(40, 40, 40), width=2)
    for i in range(6):
        height = gen.number(20, 140)
        left = 45 + i * 40
        draw.rectangle((left, 160 - height, left + 25, 159), fill=(60 + 30 * i, 110, 200 - 25 * i))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def draw_table(page, x, y, widths, header, rows, size=10.0, row_height=20.0) -> float:
    """A ruled table with a shaded bold header row; return the y below it."""
    total = sum(widths)
    page.draw_rect(
        pymupdf.Rect(x, y, x + total, y + row_height), color=None, fill=(0.85, 0.85, 0.85)
    )
    for r, cells in enumerate([header, *rows]):
        top = y + r * row_height
        font = BOLD if r == 0 else SANS
        left = x
        for width, cell in zip(widths, cells, strict=True):
            page.insert_text((left + 5, top + row_height - 6), cell, fontname=font, fontsize=size)
            left += width
    bottom = y + row_height * (len(rows) + 1)
    for r in range(len(rows) + 2):
        page.draw_line((x, y + r * row_height), (x + total, y + r * row_height), width=0.7)
    left = x
    for width in [0, *widths]:
        left += width
        page.draw_line((left, y), (left, bottom), width=0.7)
    return bottom


def report(root: Path, seed: int) -> dict:
    """A three-page report: headings, paragraphs, one figure and one ruled table."""
    gen = TextGen(seed, "report")
    title, author, company, date = gen.title(), gen.name(), gen.company(), gen.date()
    headings = [f"{i}. {gen.heading()}" for i in range(1, 6)]
    header = ["Region", "Units", "Revenue", "Change"]
    rows = [
        [
            gen.city(),
            str(gen.number(40, 900)),
            gen.amount(2000, 90000),
            f"{gen.pick('+-')}{gen.number(1, 19)}.{gen.number(0, 9)}%",
        ]
        for _ in range(5)
    ]
    doc = pymupdf.open()
    width = A4.width - 2 * MARGIN
    bottom = A4.height - 60

    page = doc.new_page(width=A4.width, height=A4.height)
    y = write_lines(page, wrap(title, width, BOLD, 20), MARGIN, 80, BOLD, 20)
    y = write_lines(page, [f"Prepared by {author} for {company}, {date}"], MARGIN, y, SANS, 10)
    page.draw_line((MARGIN, y - 4), (A4.width - MARGIN, y - 4), width=0.8)
    y = write_lines(page, [headings[0]], MARGIN, y + 18, BOLD, 14)
    for _ in range(2):
        y = paragraph(page, gen.paragraph(4), MARGIN, y, width, bottom=bottom)
    image_rect = pymupdf.Rect(MARGIN, y, MARGIN + 250, y + 150)
    page.insert_image(image_rect, stream=chart_png(gen))
    y = write_lines(
        page, [f"Figure 1: {gen.topic()} by month"], MARGIN, image_rect.y1 + 16, ITALIC, 10
    )
    y = write_lines(page, [headings[1]], MARGIN, y + 12, BOLD, 14)
    y = paragraph(page, gen.paragraph(4), MARGIN, y, width, bottom=bottom)

    page = doc.new_page(width=A4.width, height=A4.height)
    y = write_lines(page, [headings[2]], MARGIN, 80, BOLD, 14)
    y = paragraph(page, gen.paragraph(4), MARGIN, y, width, bottom=bottom)
    y = write_lines(
        page, [f"Table 1: Results by region, {gen.number(2019, 2024)}"], MARGIN, y, ITALIC, 10
    )
    y = draw_table(page, MARGIN, y, [150, 80, 120, 80], header, rows) + 24
    for _ in range(2):
        y = paragraph(page, gen.paragraph(5), MARGIN, y, width, bottom=bottom)

    page = doc.new_page(width=A4.width, height=A4.height)
    y = write_lines(page, [headings[3]], MARGIN, 80, BOLD, 14)
    for _ in range(2):
        y = paragraph(page, gen.paragraph(5), MARGIN, y, width, bottom=bottom)
    y = write_lines(page, [headings[4]], MARGIN, y + 6, BOLD, 14)
    paragraph(page, gen.paragraph(3), MARGIN, y, width, bottom=bottom)

    for number, page in enumerate(doc, start=1):
        footer(page, number, doc.page_count)
    path = root / OUT_DIR / "report.pdf"
    save_pdf(doc, path, title, author)
    return {
        "path": f"{OUT_DIR}/report.pdf",
        "kind": "pdf-digital",
        "pages": doc.page_count,
        "text_layer": True,
        "title": title,
        "headings": headings,
        "table": {"page": 2, "header": header, "rows": rows},
        "images": [{"page": 1, "bbox": [round(v, 2) for v in image_rect]}],
    }


def paper_blocks(gen: TextGen, lines_wanted: int, width: float) -> list[tuple[str, list[str]]]:
    """Sections of a paper as (font, wrapped lines) blocks, about `lines_wanted` lines long."""
    blocks, count, section = [], 0, 1
    while count < lines_wanted:
        heading = f"{section} {gen.heading()}"
        blocks.append((BOLD, [heading]))
        count += 1
        for _ in range(2):
            lines = wrap(gen.paragraph(gen.number(3, 5)), width, BODY, 10)
            blocks.append((BODY, lines))
            count += len(lines)
        section += 1
    return blocks


def flow_columns(pages_slots, blocks, leading=12.5):
    """Pour blocks into column slots in order; return the text that landed in each slot."""
    slots = [slot for page_slots in pages_slots for slot in page_slots]
    filled = [[] for _ in slots]
    index, y = 0, slots[0]["top"]
    for font, lines in blocks:
        if font == BOLD and y > slots[index]["top"]:
            y += leading * 0.5
        for line in lines:
            if y > slots[index]["bottom"]:
                index += 1
                if index == len(slots):
                    raise ValueError("paper text does not fit in its columns")
                y = slots[index]["top"]
            slot = slots[index]
            slot["page"].insert_text((slot["x"], y), line, fontname=font, fontsize=10)
            filled[index].append(line)
            y += leading
        y += leading * 0.4
    return filled


def paper(root: Path, seed: int) -> dict:
    """A two-page, two-column paper whose columns never touch, for reading-order checks."""
    gen = TextGen(seed, "paper")
    title = f"A Study of {gen.topic()} in {gen.city()}"
    authors = [gen.name() for _ in range(3)]
    gap = 30
    col_width = (A4.width - 2 * MARGIN - gap) / 2
    columns = [[MARGIN, MARGIN + col_width], [MARGIN + col_width + gap, A4.width - MARGIN]]
    doc = pymupdf.open()
    for _ in range(2):
        doc.new_page(width=A4.width, height=A4.height)
    first, second = doc[0], doc[1]
    full = A4.width - 2 * MARGIN
    title_lines = wrap(title, full, BOLD, 17)
    y = write_lines(first, title_lines, MARGIN, 80, BOLD, 17)
    y = write_lines(first, [", ".join(authors)], MARGIN, y, SANS, 10)
    y = write_lines(first, ["Abstract"], MARGIN, y + 10, BOLD, 11)
    abstract = gen.paragraph(4)
    y = paragraph(first, abstract, MARGIN, y, full, ITALIC, 10)
    first.draw_line((MARGIN, y - 4), (A4.width - MARGIN, y - 4), width=0.6)
    bottom = A4.height - 70
    pages_slots = [
        [{"page": first, "x": x0, "top": y + 14, "bottom": bottom} for x0, _ in columns],
        [{"page": second, "x": x0, "top": 80, "bottom": bottom} for x0, _ in columns],
    ]
    capacity = int((bottom - y - 14) / 12.5) * 2 + int((bottom - 80) / 12.5) * 2
    filled = flow_columns(pages_slots, paper_blocks(gen, capacity - 40, col_width))
    for number, page in enumerate(doc, start=1):
        footer(page, number, doc.page_count)
    path = root / OUT_DIR / "paper_two_column.pdf"
    save_pdf(doc, path, title, ", ".join(authors))
    return {
        "path": f"{OUT_DIR}/paper_two_column.pdf",
        "kind": "pdf-digital",
        "pages": doc.page_count,
        "text_layer": True,
        "columns": 2,
        "title": title,
        "authors": authors,
        "abstract": abstract,
        "column_x": [[round(a, 2), round(b, 2)] for a, b in columns],
        "column_text": [
            ["\n".join(filled[0]), "\n".join(filled[1])],
            ["\n".join(filled[2]), "\n".join(filled[3])],
        ],
    }


def invoice(root: Path, seed: int) -> dict:
    """An invoice with `key: value` fields, line items and totals that add up."""
    gen = TextGen(seed, "invoice")
    seller, customer = gen.company(), gen.name()
    items = []
    for _ in range(gen.number(3, 6)):
        qty, unit = gen.number(1, 12), gen.cents(5, 400)
        items.append(
            {
                "description": gen.product(),
                "qty": qty,
                "unit_price": money(unit),
                "amount": money(qty * unit),
                "cents": qty * unit,
            }
        )
    subtotal = sum(item.pop("cents") for item in items)
    tax = subtotal * 8 // 100
    fields = {
        "Invoice number": f"INV-{gen.number(2019, 2024)}-{gen.number(1000, 9999)}",
        "Date": gen.iso_date(),
        "Due date": gen.iso_date(),
        "Customer": customer,
        "Customer ID": f"C{gen.number(10000, 99999)}",
        "Subtotal": money(subtotal),
        "Tax (8%)": money(tax),
        "Total": money(subtotal + tax),
    }
    doc = pymupdf.open()
    page = doc.new_page(width=A4.width, height=A4.height)
    write_lines(page, [seller], MARGIN, 80, BOLD, 18)
    write_lines(
        page,
        [gen.street_address(), f"{gen.city()} {gen.postal_code()}", gen.phone()],
        MARGIN,
        100,
        SANS,
        10,
    )
    write_lines(page, ["INVOICE"], A4.width - MARGIN - 120, 80, BOLD, 22)
    y = 170
    for key in ("Invoice number", "Date", "Due date", "Customer", "Customer ID"):
        y = write_lines(page, [f"{key}: {fields[key]}"], MARGIN, y, SANS, 11, 16)
    header = ["Description", "Qty", "Unit price", "Amount"]
    rows = [[i["description"], str(i["qty"]), i["unit_price"], i["amount"]] for i in items]
    y = draw_table(page, MARGIN, y + 14, [200, 60, 100, 115], header, rows) + 24
    totals_x = MARGIN + 260
    for key in ("Subtotal", "Tax (8%)", "Total"):
        font = BOLD if key == "Total" else SANS
        y = write_lines(page, [f"{key}: {fields[key]}"], totals_x, y, font, 11, 17)
    write_lines(
        page,
        [f"Please pay by {fields['Due date']}. Thank you for your business."],
        MARGIN,
        y + 30,
        ITALIC,
        10,
    )
    path = root / OUT_DIR / "invoice.pdf"
    save_pdf(doc, path, f"Invoice {fields['Invoice number']}", seller)
    return {
        "path": f"{OUT_DIR}/invoice.pdf",
        "kind": "pdf-digital",
        "pages": 1,
        "text_layer": True,
        "seller": seller,
        "fields": fields,
        "line_items": items,
    }


def add_widget(page, rect, name, field_type, value) -> None:
    widget = pymupdf.Widget()
    widget.field_name = name
    widget.field_type = field_type
    widget.rect = rect
    widget.field_value = value
    widget.text_font = "Helv"
    widget.text_fontsize = 10
    page.add_widget(widget)


def form(root: Path, seed: int) -> dict:
    """A filled-in form: labelled boxes with printed values, plus two AcroForm widgets."""
    gen = TextGen(seed, "form")
    name = gen.name()
    fields = {
        "Full name": name,
        "Date of birth": gen.date(),
        "Street address": gen.street_address(),
        "City": gen.city(),
        "Postal code": gen.postal_code(),
        "Email": gen.email(name),
        "Phone": gen.phone(),
        "Membership type": gen.pick(("Standard", "Family", "Student", "Senior")),
    }
    reference = f"REF-{gen.number(100000, 999999)}"
    newsletter = gen.pick((True, False))
    doc = pymupdf.open()
    page = doc.new_page(width=A4.width, height=A4.height)
    write_lines(page, [f"{gen.city()} Public Library"], MARGIN, 70, BOLD, 18)
    write_lines(page, ["Membership Application Form"], MARGIN, 95, SANS, 13)
    y = 130
    box_width = A4.width - 2 * MARGIN
    for label, value in fields.items():
        write_lines(page, [f"{label}:"], MARGIN, y, BOLD, 10)
        box = pymupdf.Rect(MARGIN, y + 5, MARGIN + box_width, y + 27)
        page.draw_rect(box, color=(0.3, 0.3, 0.3), width=0.6)
        write_lines(page, [value], box.x0 + 6, box.y1 - 7, SANS, 11)
        y = box.y1 + 22
    write_lines(page, ["Office use only. Reference code:"], MARGIN, y + 6, BOLD, 10)
    add_widget(
        page,
        pymupdf.Rect(MARGIN + 180, y - 8, MARGIN + 330, y + 10),
        "reference_code",
        pymupdf.PDF_WIDGET_TYPE_TEXT,
        reference,
    )
    write_lines(page, ["Send me the monthly newsletter"], MARGIN + 22, y + 36, SANS, 10)
    add_widget(
        page,
        pymupdf.Rect(MARGIN, y + 25, MARGIN + 14, y + 39),
        "newsletter",
        pymupdf.PDF_WIDGET_TYPE_CHECKBOX,
        newsletter,
    )
    path = root / OUT_DIR / "form.pdf"
    save_pdf(doc, path, "Membership Application Form", name)
    return {
        "path": f"{OUT_DIR}/form.pdf",
        "kind": "pdf-digital",
        "pages": 1,
        "text_layer": True,
        "fields": fields,
        "widgets": {"reference_code": reference, "newsletter": newsletter},
    }


def write(root: Path, seed: int) -> list[dict]:
    """Write the digital PDFs under root/pdf/digital and describe each one."""
    root = Path(root)
    return [make(root, seed) for make in (report, paper, invoice, form)]
