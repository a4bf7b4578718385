"""WARC inputs as ranges of records spread over the workers (web_docs, pdf_transcribe).

Each file is split into ranges of about RANGE_BYTES (corpusio.warc: at gzip
members found by seeking, or header by header when uncompressed), and only
the ranges, a path and two offsets each, cross the reshuffle; the stage that
reads a range opens the file itself.
"""

import logging

import apache_beam as beam

from corpusio.warc import range_starts, split_ranges
from pipelines.files import open_ranged
from pipelines.records import WarcRange
from pipelines.sources import InputFile

RANGE_BYTES = 8 << 20  # a range of a WARC file: about 400 Common Crawl pages
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def is_warc(path: str) -> bool:
    return path.lower().endswith(WARC_SUFFIXES)


def split_warc(file: InputFile) -> list[WarcRange]:
    """A WARC file as ranges of records; a file that cannot be split is one range."""
    path = file.path
    if file.problem is not None:
        return [WarcRange(path, 0, None, file.problem, file.size)]
    try:
        with open_ranged(path) as f:
            starts = range_starts(f, file.size, RANGE_BYTES)
    except Exception as exc:  # noqa: BLE001 - reading the range reports the damage
        logging.warning("cannot split %s (%r); reading it whole", path, exc)
        starts = [0]
    return [WarcRange(path, s, e, size=file.size) for s, e in split_ranges(starts)]


class SplitWarcs(beam.PTransform):
    """InputFiles of WARC files -> their ranges (WarcRange), spread over the workers."""

    def expand(self, files):
        return files | "Split" >> beam.FlatMap(split_warc) | "SpreadRanges" >> beam.Reshuffle()
