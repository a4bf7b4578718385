"""A WARC file read in ranges gives exactly the records of reading it whole."""

import gzip
import io

import pytest

from benchmarks.scale_inputs import write_warc
from corpusio.warc import range_starts, split_ranges
from obelics_filter.warc import read_range, read_records


def _outcomes(records) -> list[tuple]:
    return [
        (
            type(r).__name__,
            getattr(r, "url", None),
            getattr(r, "warc_record_offset", None),
            getattr(r, "reason", None),
        )
        for r in records
    ]


def _by_ranges(data: bytes, range_bytes: int) -> tuple[list, int]:
    stream = io.BytesIO(data)
    ranges = split_ranges(range_starts(stream, len(data), range_bytes))
    outcomes = []
    for start, end in ranges:
        outcomes += _outcomes(read_range(io.BytesIO(data), "crawl", start, end))
    return outcomes, len(ranges)


@pytest.fixture(scope="module")
def gzipped(tmp_path_factory):
    path = tmp_path_factory.mktemp("warc") / "crawl.warc.gz"
    write_warc(path, 40)
    return path.read_bytes()


def test_gzipped_ranges_cover_every_record_once(gzipped):
    whole = _outcomes(read_records(io.BytesIO(gzipped), "crawl"))
    by_ranges, count = _by_ranges(gzipped, 64 * 1024)
    assert count > 5
    assert by_ranges == whole and len(whole) == 40


def test_uncompressed_ranges_cover_every_record_once(gzipped):
    plain = gzip.decompress(gzipped)
    whole = _outcomes(read_records(io.BytesIO(plain), "crawl"))
    by_ranges, count = _by_ranges(plain, 200 * 1024)
    assert count > 5
    assert by_ranges == whole


def test_a_damaged_member_costs_only_its_range(gzipped):
    starts = range_starts(io.BytesIO(gzipped), len(gzipped), 64 * 1024)
    cut = starts[2] + 200  # inside the first record of the third range
    damaged = gzipped[:cut] + b"\x00" * 64 + gzipped[cut + 64 :]
    by_ranges, _ = _by_ranges(damaged, 64 * 1024)
    kinds = [o[0] for o in by_ranges]
    assert kinds.count("Reject") == 1  # corrupt_warc for the rest of that range
    assert kinds.count("WebPage") >= 40 - 8  # the ranges after it are still read


def test_a_file_gzipped_whole_is_one_range(gzipped):
    whole_gzip = gzip.compress(gzip.decompress(gzipped))
    assert range_starts(io.BytesIO(whole_gzip), len(whole_gzip), 1024) == [0]


def _record(url: str, body: bytes, declared: int | None = None) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body)
    block = http + body
    length = len(block) if declared is None else declared
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: %s\r\n"
        b"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Length: %d\r\n\r\n" % (url.encode(), length)
    )
    return head + block + b"\r\n\r\n"


def test_a_lying_content_length_does_not_swallow_the_next_record():
    html = b"<html><body><p>" + b"word " * 50 + b"</p></body></html>"
    data = (
        _record("https://a.example/", html)
        + _record("https://liar.example/", html, declared=10 << 30)  # says 10 GiB
        + _record("https://after.example/", html)
        + _record("https://last.example/", html)
    )
    by_ranges, count = _by_ranges(data, 1 << 20)
    urls = [o[1] for o in by_ranges if o[0] == "WebPage"]
    assert "https://after.example/" in urls and "https://last.example/" in urls
    assert count == 3  # before the liar, the liar alone, after it
    whole = _outcomes(read_records(io.BytesIO(data), "crawl"))  # read whole, it would swallow
    assert "https://after.example/" not in [o[1] for o in whole]


def test_a_body_over_the_cap_is_named_as_such(monkeypatch):
    from obelics_filter import warc

    monkeypatch.setattr(warc, "MAX_BODY_BYTES", 1000)
    data = _record("https://big.example/", b"<html>" + b"x" * 5000 + b"</html>")
    (outcome,) = _outcomes(read_records(io.BytesIO(data), "crawl"))
    assert outcome[0] == "Reject" and outcome[3] == "body_too_large"
