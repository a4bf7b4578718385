"""Decontamination of Cauldron subsets against evaluation-benchmark images.

Training rows whose images are near-duplicates of benchmark images are removed, so that
scores on those benchmarks are not inflated (the Idefics3 paper found MathVista partly
contaminated by common SFT sets). A near-duplicate is decided on two 64-bit perceptual
hashes, pHash (DCT of the luminance) and dHash (horizontal gradients): both must be within
their radius, which keeps re-encoded, resized and lightly cropped copies while rejecting
unrelated pictures that happen to share one hash's coarse structure (plain diagrams on
white, for instance). Lookups go through a multi-index hashing table, so a subset of
millions of images is checked against 10^5 benchmark images without an all-pairs scan.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageOps

BITS = 64
DENSE_WIDTH = 24
BLOCK_PROBES = 1 << 16
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".ppm", ".pgm"}
)
# Calibrated on the demo corpus (tests/test_decontaminate.py): its near-duplicates (JPEG
# q35, 2% crop, 90% resize) sit at pHash <= 6 and dHash <= 5; unrelated images are at least
# pHash 24 or dHash 15 from a benchmark image. Two unrelated receipts come within pHash 10
# (dHash 20) and within dHash 5 (pHash 24) of each other: either hash alone would merge them.
PHASH_RADIUS = 10
DHASH_RADIUS = 10

ImageLike = bytes | bytearray | memoryview | Image.Image


# --- perceptual hashes ----------------------------------------------------------------


@dataclass(frozen=True)
class ImageHashes:
    """The fingerprints of one image: exact (sha256 of its bytes) and perceptual."""

    phash: int
    dhash: int
    sha256: str | None = None


def normalise(image: ImageLike) -> Image.Image:
    """An upright RGB or grayscale copy, so orientation tags and alpha do not move hashes.

    Transparent pixels are composited over white, as viewers show them; otherwise the
    colour hidden under alpha would decide the luminance the hashes see.
    """
    if not isinstance(image, Image.Image):
        image = Image.open(io.BytesIO(bytes(image)))
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("1", "I", "I;16", "F"):
        return image.convert("L")
    if image.mode == "P" or "A" in image.mode:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_int(image_hash: imagehash.ImageHash) -> int:
    """The 64 hash bits as an unsigned integer, first bit most significant."""
    return int.from_bytes(np.packbits(image_hash.hash.flatten()).tobytes(), "big")


def perceptual_hashes(image: ImageLike) -> ImageHashes:
    """pHash and dHash of an image given as encoded bytes or a PIL image."""
    picture = normalise(image)
    phash = _to_int(imagehash.phash(picture))
    dhash = _to_int(imagehash.dhash(picture))
    sha = hashlib.sha256(bytes(image)).hexdigest() if not isinstance(image, Image.Image) else None
    return ImageHashes(phash, dhash, sha)


# --- loading benchmark images ---------------------------------------------------------


def iter_folder_images(folder: str | os.PathLike) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every image file under a folder, in a stable order."""
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            yield path.as_posix(), path.read_bytes()


def _is_image_struct(kind: pa.DataType) -> bool:
    """The Arrow shape of a `datasets` Image feature: struct<bytes: binary, path: string>."""
    if not pa.types.is_struct(kind):
        return False
    if kind.get_field_index("bytes") < 0:
        return False
    data = kind.field("bytes").type
    return pa.types.is_binary(data) or pa.types.is_large_binary(data)


def image_columns(schema: pa.Schema) -> dict[str, bool]:
    """Columns holding images, mapped to whether each holds a list of them."""
    found = {}
    for column in schema:
        kind = column.type
        if _is_image_struct(kind):
            found[column.name] = False
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            if _is_image_struct(kind.value_type):
                found[column.name] = True
    return found


def _cell_bytes(cell: dict | None, base: Path) -> bytes | None:
    """An Image cell's bytes; a cell holding only a path is read relative to the file.

    A path that does not resolve raises: a benchmark image skipped in silence would let
    its training copies through.
    """
    if not cell:
        return None
    if cell.get("bytes") is not None:
        return cell["bytes"]
    if cell.get("path"):
        path = Path(cell["path"])
        return (path if path.is_absolute() else base / path).read_bytes()
    return None


def iter_parquet_images(
    path: str | os.PathLike, batch_rows: int = 256
) -> Iterator[tuple[str, bytes]]:
    """(id, bytes) of every image in a Parquet file; ids are `file#row`.

    With several image columns the column is appended (`file#row:column`), and images of a
    list column carry their position (`file#row:column[2]`), so every id names one image.
    """
    path = Path(path)
    parquet = pq.ParquetFile(path)
    columns = image_columns(parquet.schema_arrow)
    if not columns:
        return
    many = len(columns) > 1
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns)):
        for record in batch.to_pylist():
            for name, is_list in columns.items():
                stem = f"{path.as_posix()}#{row}" + (f":{name}" if many or is_list else "")
                cells = record[name] if is_list else [record[name]]
                for k, cell in enumerate(cells or []):
                    data = _cell_bytes(cell, path.parent)
                    if data is not None:
                        yield (f"{stem}[{k}]" if is_list else stem), data
            row += 1


def iter_benchmark_images(location: str | os.PathLike) -> Iterator[tuple[str, bytes]]:
    """Images of a benchmark given as an image file, a Parquet file or a folder of either."""
    location = Path(location)
    if location.is_dir():
        yield from iter_folder_images(location)
        for parquet in sorted(location.rglob("*.parquet")):
            yield from iter_parquet_images(parquet)
    elif location.suffix.lower() == ".parquet":
        yield from iter_parquet_images(location)
    else:
        yield location.as_posix(), location.read_bytes()


@dataclass
class BenchmarkHashes:
    """Perceptual hashes of a set of benchmark images, aligned with their ids."""

    ids: list[str]
    phash: np.ndarray
    dhash: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_images(cls, images: Iterable[tuple[str, ImageLike]]) -> BenchmarkHashes:
        ids, phashes, dhashes = [], [], []
        for image_id, image in images:
            hashes = perceptual_hashes(image)
            ids.append(image_id)
            phashes.append(hashes.phash)
            dhashes.append(hashes.dhash)
        return cls(ids, np.array(phashes, np.uint64), np.array(dhashes, np.uint64))

    @classmethod
    def load(cls, *locations: str | os.PathLike) -> BenchmarkHashes:
        """Hash every image found under the given files and folders."""
        return cls.from_images(
            item for location in locations for item in iter_benchmark_images(location)
        )


# --- Hamming search -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Pairs:
    """Matches of a batch search: query position, code position, distance, sorted."""

    query: np.ndarray
    code: np.ndarray
    distance: np.ndarray

    @classmethod
    def build(cls, query, code, distance) -> Pairs:
        order = np.lexsort((code, query))
        return cls(query[order], code[order], distance[order])

    def __len__(self) -> int:
        return len(self.query)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pairs):
            return NotImplemented
        return all(
            np.array_equal(a, b)
            for a, b in zip(
                (self.query, self.code, self.distance),
                (other.query, other.code, other.distance),
                strict=True,
            )
        )


def _as_codes(codes) -> np.ndarray:
    return np.atleast_1d(np.asarray(codes, dtype=np.uint64))


def brute_force(codes, query: int, radius: int) -> list[tuple[int, int]]:
    """(position, distance) of every code within `radius` of `query`: the reference scan."""
    distances = np.bitwise_count(_as_codes(codes) ^ np.uint64(query))
    hits = np.flatnonzero(distances <= radius)
    return [(int(i), int(distances[i])) for i in hits]


def brute_force_pairs(codes, queries, radius: int, block: int = 1 << 20) -> Pairs:
    """All (query, code) pairs within `radius`, by a vectorised scan of every pair."""
    codes, queries = _as_codes(codes), _as_codes(queries)
    step = max(1, block // max(1, len(codes)))
    found = []
    for start in range(0, len(queries), step):
        chunk = queries[start : start + step]
        distances = np.bitwise_count(chunk[:, None] ^ codes[None, :])
        q, c = np.nonzero(distances <= radius)
        found.append((q + start, c, distances[q, c].astype(np.int64)))
    return _concat_pairs(found)


def _concat_pairs(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Pairs:
    if not found:
        empty = np.empty(0, np.int64)
        return Pairs(empty, empty, empty)
    q, c, d = (np.concatenate(parts).astype(np.int64) for parts in zip(*found, strict=True))
    return Pairs.build(q, c, d)


@lru_cache(maxsize=256)
def _flip_masks(width: int, errors: int) -> np.ndarray:
    """Every `width`-bit mask with at most `errors` bits set: the probes of one table."""
    masks = [0]
    for k in range(1, min(errors, width) + 1):
        masks.extend(sum(1 << b for b in bits) for bits in itertools.combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


def _default_tables(size: int) -> int:
    """About log2(n) bits per substring keeps buckets near one entry (Norouzi et al.)."""
    bits_per_table = max(8, int(np.ceil(np.log2(max(size, 2)))))
    return int(min(8, max(1, round(BITS / bits_per_table))))


@dataclass(frozen=True)
class _Table:
    """One substring table: the codes' substrings sorted, and where each value's run starts.

    `offsets[v]` is the first sorted position holding value v (a dense array, when the
    substring is narrow enough for one); otherwise runs are found by binary search.
    """

    keys: np.ndarray
    order: np.ndarray
    offsets: np.ndarray | None

    def bounds(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.offsets is not None:
            index = values.astype(np.int64)
            return self.offsets[index], self.offsets[index + 1]
        low = np.searchsorted(self.keys, values, side="left")
        return low, np.searchsorted(self.keys, values, side="right")

    def candidates(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of `probes`, code position) for every code whose substring equals a probe."""
        low, high = self.bounds(probes.ravel())
        counts = high - low
        rows = np.repeat(np.arange(len(probes)), counts.reshape(len(probes), -1).sum(axis=1))
        first = np.repeat(low - (np.cumsum(counts) - counts), counts)
        return rows, self.order[np.arange(len(rows)) + first]


class HammingIndex:
    """Exact radius search over 64-bit codes by multi-index hashing.

    Codes are cut into `tables` disjoint substrings, each kept sorted in its own table.
    If two codes differ in at most r bits, one of the m substrings differs in at most
    floor(r / m) bits (pigeonhole), so probing every table with all substring values that
    close finds every candidate; candidates are then checked on the full 64 bits. When a
    radius would need more probes than a scan costs, the index scans instead: same answer.
    """

    def __init__(self, codes, ids: Sequence | None = None, tables: int | None = None):
        self.codes = _as_codes(codes).copy()
        self.ids = list(range(len(self.codes))) if ids is None else list(ids)
        if len(self.ids) != len(self.codes):
            raise ValueError("ids and codes differ in length")
        self.tables = tables or _default_tables(len(self.codes))
        if not 1 <= self.tables <= BITS:
            raise ValueError(f"tables must be in 1..{BITS}")
        self._slices = self._substrings()
        self._tables = [self._table(shift, width) for shift, width in self._slices]

    def __len__(self) -> int:
        return len(self.codes)

    def _substrings(self) -> list[tuple[int, int]]:
        """(shift, width) of each substring; widths differ by at most one bit."""
        base, extra = divmod(BITS, self.tables)
        widths = [base + (1 if i < extra else 0) for i in range(self.tables)]
        shifts = np.cumsum([0, *widths[:-1]])
        return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]

    @staticmethod
    def _keys(codes: np.ndarray, shift: int, width: int) -> np.ndarray:
        mask = np.uint64((1 << width) - 1)
        return (codes >> np.uint64(shift)) & mask

    def _table(self, shift: int, width: int) -> _Table:
        keys = self._keys(self.codes, shift, width)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        offsets = None
        if width <= DENSE_WIDTH:
            counts = np.bincount(keys.astype(np.int64), minlength=1 << width)
            offsets = np.concatenate([[0], np.cumsum(counts)])
        return _Table(keys, order, offsets)

    def _probe_count(self, radius: int) -> int:
        """Probes per query at this radius, counted without listing them."""
        errors = radius // self.tables
        return sum(
            sum(math.comb(width, k) for k in range(min(errors, width) + 1))
            for _, width in self._slices
        )

    def search(self, queries, radius: int) -> Pairs:
        """All (query position, code position, distance) with distance <= radius."""
        queries = _as_codes(queries)
        if radius < 0 or len(self.codes) == 0 or len(queries) == 0:
            return _concat_pairs([])
        if radius >= BITS or self._probe_count(radius) >= len(self.codes):
            return brute_force_pairs(self.codes, queries, radius)
        step = max(1, BLOCK_PROBES // self._probe_count(radius))
        found = [
            self._search_block(queries[start : start + step], radius, start)
            for start in range(0, len(queries), step)
        ]
        return _concat_pairs(found)

    def _search_block(self, queries: np.ndarray, radius: int, offset: int):
        """Candidates from every table for a block of queries, checked on all 64 bits.

        A pair close in several substrings is found by several tables; it is kept once.
        """
        errors = radius // self.tables
        found_q, found_c = [], []
        for (shift, width), table in zip(self._slices, self._tables, strict=True):
            probes = self._keys(queries, shift, width)[:, None] ^ _flip_masks(width, errors)
            q, c = table.candidates(probes)
            keep = np.bitwise_count(queries[q] ^ self.codes[c]) <= radius
            found_q.append(q[keep])
            found_c.append(c[keep])
        pair_keys = np.unique(np.concatenate(found_q) * len(self.codes) + np.concatenate(found_c))
        q, c = np.divmod(pair_keys, len(self.codes))
        distances = np.bitwise_count(queries[q] ^ self.codes[c]).astype(np.int64)
        return q + offset, c, distances

    def query(self, code: int, radius: int) -> list[tuple[object, int]]:
        """(id, distance) of every indexed code within `radius`, nearest first."""
        return self.query_batch([code], radius)[0]

    def query_batch(self, codes, radius: int) -> list[list[tuple[object, int]]]:
        """`query` for many codes at once; one list per code, in the same order."""
        codes = _as_codes(codes)
        pairs = self.search(codes, radius)
        results: list[list[tuple[object, int]]] = [[] for _ in range(len(codes))]
        for q, c, d in zip(pairs.query, pairs.code, pairs.distance, strict=True):
            results[q].append((self.ids[c], int(d)))
        for hits in results:
            hits.sort(key=lambda hit: hit[1])
        return results


# --- matching -------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A benchmark image a training image is a near-duplicate of."""

    benchmark_id: str
    phash_distance: int
    dhash_distance: int


class Decontaminator:
    """Finds benchmark images that a training image near-duplicates.

    An image matches a benchmark image when its pHash is within `phash_radius` AND its
    dHash within `dhash_radius`: one hash alone lets unrelated images with similar coarse
    layout through, two independent hashes rarely agree by chance.
    """

    def __init__(
        self,
        benchmark: BenchmarkHashes,
        phash_radius: int = PHASH_RADIUS,
        dhash_radius: int = DHASH_RADIUS,
    ):
        self.benchmark = benchmark
        self.phash_radius = phash_radius
        self.dhash_radius = dhash_radius
        self._index = HammingIndex(benchmark.phash)

    def match(self, image: ImageLike) -> list[Match]:
        """Benchmark images this image (encoded bytes or PIL image) near-duplicates."""
        hashes = perceptual_hashes(image)
        return self.match_hashes(hashes.phash, hashes.dhash)

    def match_hashes(self, phash: int, dhash: int) -> list[Match]:
        return self.match_many([phash], [dhash])[0]

    def match_many(self, phashes, dhashes) -> list[list[Match]]:
        """Matches for many (pHash, dHash) pairs, one list each, nearest first."""
        phashes, dhashes = _as_codes(phashes), _as_codes(dhashes)
        pairs = self._index.search(phashes, self.phash_radius)
        dhash_distances = np.bitwise_count(dhashes[pairs.query] ^ self.benchmark.dhash[pairs.code])
        results: list[list[Match]] = [[] for _ in range(len(phashes))]
        for q, c, pd, dd in zip(
            pairs.query, pairs.code, pairs.distance, dhash_distances, strict=True
        ):
            if dd <= self.dhash_radius:
                results[q].append(Match(self.benchmark.ids[c], int(pd), int(dd)))
        for matches in results:
            matches.sort(key=lambda m: (m.phash_distance + m.dhash_distance, m.benchmark_id))
        return results


# --- subset scan and report -----------------------------------------------------------


@dataclass
class RemovedRow:
    """A training row dropped because one of its images is a benchmark image."""

    row_id: str
    matches: list[dict]


@dataclass
class DuplicateGroup:
    """Images of one subset that are the same picture.

    `kind` is "bytes" for identical files (same sha256) and "pixels" for different files
    with equal pHash and dHash (the same picture saved twice).
    """

    kind: str
    image_ids: list[str]


@dataclass
class DecontaminationReport:
    """What a scan removed and why; `to_dict` is JSON-serialisable."""

    subset: str
    rows_seen: int = 0
    images_seen: int = 0
    phash_radius: int = PHASH_RADIUS
    dhash_radius: int = DHASH_RADIUS
    removed: list[RemovedRow] = field(default_factory=list)
    duplicate_groups: list[DuplicateGroup] = field(default_factory=list)

    @property
    def removed_ids(self) -> set[str]:
        return {row.row_id for row in self.removed}

    def to_dict(self) -> dict:
        return asdict(self)


def image_id(row_id: str, position: int, count: int) -> str:
    return row_id if count == 1 else f"{row_id}[{position}]"


def duplicate_groups(hashes: dict[str, ImageHashes]) -> list[DuplicateGroup]:
    """Groups of images with identical bytes, then of distinct files with equal hashes."""
    by_sha: dict[str, list[str]] = defaultdict(list)
    by_pixels: dict[tuple[int, int], list[str]] = defaultdict(list)
    for key, h in hashes.items():
        by_sha[h.sha256 or key].append(key)
        by_pixels[(h.phash, h.dhash)].append(key)
    groups = [DuplicateGroup("bytes", ids) for ids in by_sha.values() if len(ids) > 1]
    for ids in by_pixels.values():
        if len({hashes[i].sha256 or i for i in ids}) > 1:
            groups.append(DuplicateGroup("pixels", ids))
    return groups


def scan_subset(
    subset: str,
    rows: Iterable[tuple[str, Sequence[ImageLike]]],
    decontaminator: Decontaminator,
) -> DecontaminationReport:
    """Check every image of a subset's rows; a row goes when any of its images matches.

    `rows` yields (row id, images of the row). Each image is decoded and hashed once,
    for both the benchmark lookup and the duplicate groups.
    """
    report = DecontaminationReport(
        subset, phash_radius=decontaminator.phash_radius, dhash_radius=decontaminator.dhash_radius
    )
    seen: dict[str, ImageHashes] = {}
    for row_id, images in rows:
        report.rows_seen += 1
        matches = []
        for position, image in enumerate(images):
            key = image_id(row_id, position, len(images))
            hashes = seen[key] = perceptual_hashes(image)
            for match in decontaminator.match_hashes(hashes.phash, hashes.dhash):
                matches.append({"image_id": key, **asdict(match)})
        report.images_seen += len(images)
        if matches:
            report.removed.append(RemovedRow(row_id, matches))
    report.duplicate_groups = duplicate_groups(seen)
    return report
