"""Inputs for the scale benchmark: N unique web pages in one WARC, N multi-page PDFs.

Pages are shaped like crawled news articles (a long navigation menu, inline
CSS and scripts, an article of several hundred words with figures, related
links, comments, a footer: about 60 KB of HTML each) with seeded text, so
every page has its own URL and its own text and most of them pass the
filters. The same seed always gives the same bytes.
"""

import io
import random
from pathlib import Path

import pymupdf
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from demo_corpus.text import TextGen

SYLLABLES = ("ka", "lo", "mi", "ren", "tor", "va", "sel", "dun", "pri", "ost", "bel", "har")
WARC_DATE = "2024-03-01T12:00:00Z"


def _coined(rng: random.Random) -> str:
    """A made-up proper noun: it keeps page texts apart without a word list."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _menu(rng: random.Random, items: int) -> str:
    links = "".join(
        f'<li class="menu-item"><a href="/s/{_coined(rng).lower()}/">{_coined(rng)}</a></li>'
        for _ in range(items)
    )
    return f'<nav class="main-navigation"><ul class="menu">{links}</ul></nav>'


def _style(rng: random.Random) -> str:
    rules = "".join(
        f".c{rng.getrandbits(24):06x}{{margin:{rng.randint(0, 40)}px;"
        f"color:#{rng.getrandbits(24):06x}}}"
        for _ in range(300)
    )
    return f"<style>{rules}</style>"


def _script(rng: random.Random) -> str:
    body = ";".join(f"window.v{i}={rng.getrandbits(32)}" for i in range(700))
    return f"<script>{body}</script>"


def page_html(index: int, seed: int = 0) -> bytes:
    """One article page of about 60 KB."""
    rng = random.Random(f"scale-page:{seed}:{index}")
    gen = TextGen(seed, f"scale-page-{index}")
    place = _coined(rng)
    title = f"{gen.title()} in {place}"
    paragraphs = []
    for _ in range(rng.randint(8, 14)):
        sentences = [gen.sentence() for _ in range(rng.randint(3, 6))]
        sentences.insert(rng.randint(0, len(sentences)), f"{_coined(rng)} of {place} agreed.")
        paragraphs.append(" ".join(sentences))
    figures = []
    for number in range(rng.randint(2, 5)):
        src = f"https://img.site{index % 97}.example/{index}/{number}-{_coined(rng).lower()}.jpg"
        figures.append(
            f'<figure><img src="{src}" width="640" height="427" alt="{gen.heading()}">'
            f"<figcaption>{gen.sentence()}</figcaption></figure>"
        )
    body = []
    for number, text in enumerate(paragraphs):
        body.append(f"<p>{text}</p>")
        if number % 3 == 1 and figures:
            body.append(figures.pop())
    body.extend(figures)
    related = "".join(
        f'<li><a href="/news/{index}-{k}">{gen.heading()} {_coined(rng)}</a></li>'
        for k in range(12)
    )
    comments = "".join(
        f'<div class="comment"><b class="author">{gen.name()}</b><p>{gen.sentence()}</p></div>'
        for _ in range(rng.randint(2, 6))
    )
    html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"{_style(rng)}{_script(rng)}</head><body>"
        f'<header class="site-header"><a href="/">'
        f'<img src="https://site{index % 97}.example/logo.png" alt="logo" width="120" height="40">'
        f"</a>{_menu(rng, 60)}</header>"
        f'<main><article class="post"><h1>{title}</h1><div class="byline">By {gen.name()}, '
        f"{gen.date()}</div>{''.join(body)}</article>"
        f'<aside class="related"><h2>Related</h2><ul>{related}</ul></aside>'
        f'<section class="comments"><h2>Comments</h2>{comments}</section></main>'
        f'<footer class="site-footer">{_menu(rng, 30)}<p>Copyright {place} Media</p></footer>'
        f"{_script(rng)}</body></html>"
    )
    return html.encode()


def write_warc(path: Path, pages: int, seed: int = 0) -> int:
    """A gzipped WARC of `pages` unique HTML responses; returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for index in range(pages):
            body = page_html(index, seed)
            url = f"https://site{index % 97}.example/news/{index}/article.html"
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=headers,
                warc_headers_dict={
                    "WARC-Date": WARC_DATE,
                    "WARC-Record-ID": f"<urn:uuid:{_uuid(seed, index)}>",
                },
            )
            writer.write_record(record)
    return path.stat().st_size


def _uuid(seed: int, index: int) -> str:
    value = random.Random(f"scale-record:{seed}:{index}").getrandbits(128)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-8{text[17:20]}-{text[20:32]}"


def write_pdfs(folder: Path, count: int, seed: int = 0, pages: int = 12) -> int:
    """`count` digital PDFs of about `pages` pages of seeded text; returns the page total."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(count):
        gen = TextGen(seed, f"scale-pdf-{index}")
        n_pages = pages - 2 + index % 5
        doc = pymupdf.open()
        for number in range(n_pages):
            page = doc.new_page()
            text = f"{gen.title()}\n\n" + "\n\n".join(gen.paragraph(5) for _ in range(5))
            page.insert_textbox(pymupdf.Rect(54, 54, 558, 738), text, fontsize=10)
            page.insert_text((300, 770), str(number + 1), fontsize=9)
        doc.set_metadata({"creationDate": "D:20240101000000Z", "modDate": "D:20240101000000Z"})
        (folder / f"doc-{index:05d}.pdf").write_bytes(
            doc.tobytes(garbage=3, deflate=True, no_new_id=True)
        )
        doc.close()
        total += n_pages
    return total
