"""The demo WARC parses, matches its index entry, and carries what each stage needs."""

import hashlib
import html
import io
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from demo_corpus import web

REPO = Path(__file__).resolve().parents[1]
WARC = "web/warc/demo.warc.gz"
STOPWORDS = set(
    "a an the and or but of to in on at by for from with as is are was were be been it its this "
    "that these those he she they we you i his her their our who which what when where there "
    "had has have not no so if than then up out into over after before about can could would "
    "will more most some any all one two also only very just".split()
)
LAZY_ATTRS = ("src", "data-src", "data-lazy-src", "data-original")


@pytest.fixture(scope="module")
def corpus(demo_corpus):
    root, index = demo_corpus
    return root, {entry["path"]: entry for entry in index["files"]}


@pytest.fixture(scope="module")
def warc_records(corpus):
    """Every record of demo.warc.gz as (headers, http headers, payload, offset, length)."""
    root, _ = corpus
    out = []
    with open(root / WARC, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            payload = record.content_stream().read()
            out.append(
                {
                    "type": record.rec_type,
                    "url": record.rec_headers.get_header("WARC-Target-URI") or "",
                    "warc": record.rec_headers,
                    "http": record.http_headers,
                    "payload": payload,
                    "offset": iterator.get_record_offset(),
                    "length": iterator.get_record_length(),
                }
            )
    return out


@pytest.fixture(scope="module")
def facts(corpus):
    _, entries = corpus
    return entries[WARC]["records"]


class ImageRefs(HTMLParser):
    """Collects every image URL a page's markup points at, lazy attributes included."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag != "img":
            return
        values = dict(attrs)
        for name in LAZY_ATTRS:
            if values.get(name):
                self.refs.append((name, values[name]))
        for candidate in (values.get("srcset") or "").split(","):
            if candidate.strip():
                self.refs.append(("srcset", candidate.split()[0]))


def _image_refs(html: str, base: str) -> set[str]:
    parser = ImageRefs()
    parser.feed(html)
    return {urljoin(base, ref) for _, ref in parser.refs if not ref.startswith("data:")}


def _html_pages(warc_records, facts):
    for record, fact in zip(warc_records, facts, strict=True):
        if record["type"] == "response" and fact["content_type"].startswith("text/html"):
            yield record, fact


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_records_match_index(warc_records, facts):
    assert len(warc_records) == len(facts)
    for record, fact in zip(warc_records, facts, strict=True):
        assert record["type"] == fact["type"]
        assert record["url"] == fact["url"]
        assert (record["offset"], record["length"]) == (fact["offset"], fact["length"])
        if record["type"] == "response":
            assert record["http"].get_header("Content-Type") == fact["content_type"]
            assert record["http"].get_statuscode() == "200"
        else:
            assert record["warc"].get_header("Content-Type") == fact["content_type"]


def test_warc_shape_is_crawl_like(warc_records, facts):
    assert warc_records[0]["type"] == "warcinfo"
    types = Counter(r["type"] for r in warc_records)
    assert types["warcinfo"] == 1 and types["request"] == 1
    ids = [r["warc"].get_header("WARC-Record-ID") for r in warc_records]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", i) for i in ids)
    for record in warc_records[1:]:
        assert record["warc"].get_header("WARC-Warcinfo-ID") == ids[0]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["warc"].get_header("WARC-Date")
        )
        host = urlsplit(record["url"]).hostname
        assert host.endswith(".example"), host
    roles = Counter(f["role"] for f in facts)
    for role in (
        "article",
        "article_old_capture",
        "listing",
        "spam",
        "non_english",
        "lazy_images",
        "opt_out",
        "robots",
        "request",
    ):
        assert roles[role] == 1, role


def test_record_offsets_allow_ranged_reads(corpus, facts):
    root, _ = corpus
    data = (root / WARC).read_bytes()
    article = next(f for f in facts if f["role"] == "article")
    chunk = data[article["offset"] : article["offset"] + article["length"]]
    record = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    assert record.rec_headers.get_header("WARC-Target-URI") == article["url"]
    assert b"community orchard" in record.content_stream().read()


def test_every_referenced_image_is_in_the_warc_and_decodes(warc_records, facts):
    pairs = zip(warc_records, facts, strict=True)
    by_url = {r["url"]: (r, f) for r, f in pairs if f["role"] == "image"}
    for record, fact in _html_pages(warc_records, facts):
        html = record["payload"].decode(fact["encoding"])
        refs = _image_refs(html, record["url"])
        assert refs == {img["url"] for img in fact["images"]}, fact["role"]
        for url in refs:
            image_record, image_fact = by_url[url]
            picture = Image.open(io.BytesIO(image_record["payload"]))
            picture.load()
            assert picture.size == (image_fact["width"], image_fact["height"])
            mime = image_record["http"].get_header("Content-Type")
            assert mime == Image.MIME[picture.format]


def test_kept_images_pass_obelics_image_filters(warc_records, facts):
    sizes = {f["url"]: (f["width"], f["height"]) for f in facts if f["role"] == "image"}
    for _, fact in _html_pages(warc_records, facts):
        for image in fact["images"]:
            width, height = sizes[image["url"]]
            inside = 150 <= min(width, height) and 0.5 <= width / height <= 2
            if image["expect"] == "keep":
                assert 200 <= width <= 800 and 200 <= height <= 800 and inside, image
            if "aspect_ratio" in image["reasons"]:
                assert not 0.5 <= width / height <= 2
            if "size" in image["reasons"]:
                assert min(width, height) < 150
            if "url_pattern" in image["reasons"]:
                assert re.search(r"logo|icon|button|widget|plugin", image["url"])


def test_lazy_page_needs_every_lazy_attribute(warc_records, facts):
    record, fact = next(
        (r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "lazy_images"
    )
    parser = ImageRefs()
    parser.feed(record["payload"].decode("utf-8"))
    attrs = {name for name, _ in parser.refs}
    assert {"data-src", "data-lazy-src", "data-original", "srcset"} <= attrs
    html = record["payload"].decode("utf-8")
    assert 'src="data:image/gif;base64,' in html and "<noscript><img" in html
    placeholder = [i for i in fact["images"] if i["expect"] == "placeholder"]
    assert len(placeholder) == 1 and placeholder[0]["attr"] == "src"


def test_french_page_needs_charset_detection(warc_records, facts):
    record, fact = next(
        (r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "non_english"
    )
    body = record["payload"]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "charset" not in record["http"].get_header("Content-Type")
    assert re.search(rb"<meta[^>]+charset=windows-1252", body)
    text = body.decode("cp1252")
    assert "l\u2019ancienne friche" in text and "c\u0153ur" in text
    assert fact["expect"] == "drop:language" and fact["language"] == "fr"


def test_article_text_reads_like_english_prose(warc_records, facts):
    record, fact = next(
        (r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "article"
    )
    html = record["payload"].decode("utf-8")
    paragraphs = re.findall(r"<p>(.*?)</p>", html, flags=re.S)
    words = _words(" ".join(paragraphs))
    stop_ratio = sum(w in STOPWORDS for w in words) / len(words)
    assert len(words) >= 150 and stop_ratio >= 0.3, (len(words), stop_ratio)
    assert html.count("<figure") == 3 and html.count("<figcaption>") == 3
    assert all(snippet in html for snippet in fact["content_text"])


def test_spam_page_is_repetitive_and_noisy(warc_records, facts):
    record, fact = next((r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "spam")
    text = _visible_text(record["payload"].decode("utf-8"))
    words = _words(text)
    grams = Counter(tuple(words[i : i + 5]) for i in range(len(words) - 4))
    repeated = sum(c for c in grams.values() if c > 1) / max(sum(grams.values()), 1)
    stripped = "".join(text.split())
    special = sum(not ch.isalnum() for ch in stripped) / len(stripped)
    assert repeated > 0.5 and special > 0.15, (repeated, special)
    assert fact["expect"] == "drop:spam"


def test_listing_page_is_mostly_boilerplate(warc_records, facts):
    record, fact = next(
        (r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "listing"
    )
    html = record["payload"].decode("utf-8")
    for marker in (
        'id="navbar"',
        'class="menu"',
        'class="ad"',
        'class="advert"',
        'class="sponsored"',
        'class="footer"',
        "<footer>",
        'id="header"',
    ):
        assert marker in html, marker
    assert all(text in html for text in fact["boilerplate_text"] + fact["content_text"])


def test_old_capture_is_older_and_later_in_file(warc_records, facts):
    article = [
        (i, r)
        for i, (r, f) in enumerate(zip(warc_records, facts, strict=True))
        if f["role"] in ("article", "article_old_capture")
    ]
    (new_index, new), (old_index, old) = article
    assert new["url"] == old["url"]
    assert old["warc"].get_header("WARC-Date") < new["warc"].get_header("WARC-Date")
    assert old_index > new_index and old["payload"] != new["payload"]


def test_opt_out_page_says_so_in_http(warc_records, facts):
    record, _ = next((r, f) for r, f in _html_pages(warc_records, facts) if f["role"] == "opt_out")
    assert "noai" in record["http"].get_header("X-Robots-Tag")


def test_truncated_header_raises_after_complete_records(corpus):
    root, entries = corpus
    path = "web/warc/bad/truncated.warc.gz"
    read = 0
    with pytest.raises(ArchiveLoadFailed):
        with open(root / path, "rb") as stream:
            for record in ArchiveIterator(stream):
                record.content_stream().read()
                read += 1
    assert read == entries[path]["complete_records"]


def test_truncated_payload_is_silently_short(corpus):
    """warcio does not raise here: only Content-Length tells the last record is cut."""
    root, entries = corpus
    entry = entries["web/warc/bad/truncated_payload.warc.gz"]
    with open(root / entry["path"], "rb") as stream:
        records = [
            (r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read(), r.http_headers)
            for r in ArchiveIterator(stream)
        ]
    assert len(records) == entry["complete_records"] + 1
    url, payload, http = records[-1]
    short = entry["short_record"]
    assert url == short["url"]
    assert len(payload) == short["available_payload"]
    assert int(http.get_header("Content-Length")) == short["declared_payload"] > len(payload)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_another_seed_changes_the_web_part(demo_corpus, tmp_path):
    root, index = demo_corpus
    web.write(tmp_path, 1)
    other = _hashes(tmp_path)
    first = {e["path"]: e["sha256"] for e in index["files"] if e["path"] in other}
    assert first.keys() == other.keys()
    assert first[WARC] != other[WARC]
