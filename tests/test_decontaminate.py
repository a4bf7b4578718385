"""Decontamination against benchmark images, on the demo corpus and on random codes."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cauldron.decontaminate import (
    DHASH_RADIUS,
    PHASH_RADIUS,
    BenchmarkHashes,
    Decontaminator,
    HammingIndex,
    brute_force,
    brute_force_pairs,
    iter_folder_images,
    iter_parquet_images,
    perceptual_hashes,
    scan_subset,
)

BENCHMARK_DIR = "cauldron/benchmark_images"


# --- the demo corpus ------------------------------------------------------------------


def _relative(root: Path, image_id: str) -> str:
    return Path(image_id).relative_to(root).as_posix() if image_id.startswith("/") else image_id


def _training_images(root: Path) -> dict[str, bytes]:
    """Every image of the demo corpus outside the benchmark folder, keyed like corpus.json.

    Loose files by path, Parquet cells by `path#row`, zip members by `path!member`.
    """
    found = {}
    for image_id, data in iter_folder_images(root):
        found[_relative(root, image_id)] = data
    for parquet in sorted(root.rglob("*.parquet")):
        for image_id, data in iter_parquet_images(parquet):
            found[_relative(root, image_id)] = data
    for archive_path in sorted(root.rglob("*.zip")):
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.namelist():
                if not member.endswith("/"):
                    key = f"{archive_path.relative_to(root).as_posix()}!{member}"
                    found[key] = archive.read(member)
    return {k: v for k, v in found.items() if not k.startswith(BENCHMARK_DIR + "/")}


def _source_key(entry: dict) -> str:
    """The training-image key an index entry's `duplicate_of` points at."""
    if "member" in entry:
        return f"{entry['duplicate_of']}!{entry['member']}"
    if "row" in entry:
        return f"{entry['duplicate_of']}#{entry['row']}"
    return entry["duplicate_of"]


@pytest.fixture(scope="module")
def demo(demo_corpus):
    root, index = demo_corpus
    benchmark = BenchmarkHashes.load(root / BENCHMARK_DIR)
    benchmark.ids = [_relative(root, i) for i in benchmark.ids]
    entries = [e for e in index["files"] if e["path"].startswith(BENCHMARK_DIR + "/")]
    return root, index, benchmark, entries, _training_images(root)


def test_benchmark_folder_loads_every_image(demo):
    _, _, benchmark, entries, _ = demo
    assert sorted(benchmark.ids) == sorted(e["path"] for e in entries)
    assert benchmark.phash.dtype == benchmark.dhash.dtype == np.uint64


def test_all_cauldron_source_images_are_checked(demo):
    _, index, _, _, training = demo
    cauldron = [e for e in index["files"] if e["path"].startswith("cauldron/")]
    sources = [e for e in cauldron if e["subset"] != "benchmark_images"]
    expected = sum(1 for e in sources if e.get("role") == "image")
    expected += sum(e["members"] for e in sources if "members" in e)
    expected += sum(
        e["rows"] for e in sources if e["subset"] in ("cord_v2", "lnqa") and "rows" in e
    )
    assert len([k for k in training if k.startswith("cauldron/")]) == expected


def test_every_near_duplicate_is_caught_and_nothing_else(demo):
    _, _, benchmark, entries, training = demo
    decontaminator = Decontaminator(benchmark)
    found = {
        (key, m.benchmark_id) for key, data in training.items() for m in decontaminator.match(data)
    }
    expected = {(_source_key(e), e["path"]) for e in entries if e["duplicate_of"]}
    assert {e["transform"] for e in entries if e["duplicate_of"]} == {
        "jpeg_q35",
        "crop_2pct",
        "resize_90",
        "crop_2pct+jpeg_q35",
    }
    assert found == expected


def test_match_distances_agree_with_the_index_and_sit_inside_the_radii(demo):
    _, _, benchmark, entries, training = demo
    decontaminator = Decontaminator(benchmark)
    for entry in (e for e in entries if e["duplicate_of"]):
        (match,) = decontaminator.match(training[_source_key(entry)])
        assert match.phash_distance == entry["phash_distance"]
        assert match.phash_distance <= PHASH_RADIUS and match.dhash_distance <= DHASH_RADIUS


def test_unrelated_images_are_far_from_every_benchmark_image(demo):
    """A margin, not just no match: the nearest unrelated pair is well outside the radii."""
    _, _, benchmark, entries, training = demo
    duplicates = {(_source_key(e), e["path"]) for e in entries if e["duplicate_of"]}
    for key, data in training.items():
        hashes = perceptual_hashes(data)
        phash = np.bitwise_count(benchmark.phash ^ np.uint64(hashes.phash))
        dhash = np.bitwise_count(benchmark.dhash ^ np.uint64(hashes.dhash))
        for k, bench_id in enumerate(benchmark.ids):
            if (key, bench_id) not in duplicates:
                assert phash[k] > PHASH_RADIUS + 4 or dhash[k] > DHASH_RADIUS + 4, (key, bench_id)


def test_scan_report_removes_contaminated_rows(demo):
    _, _, benchmark, entries, training = demo
    rows = [(key, [data]) for key, data in sorted(training.items()) if key.startswith("cauldron/")]
    report = scan_subset("cauldron_sources", rows, Decontaminator(benchmark))
    assert report.rows_seen == len(rows)
    assert report.removed_ids == {_source_key(e) for e in entries if e["duplicate_of"]}
    payload = json.loads(json.dumps(report.to_dict()))
    first = payload["removed"][0]["matches"][0]
    assert set(first) == {"image_id", "benchmark_id", "phash_distance", "dhash_distance"}


# --- hashes and duplicates ------------------------------------------------------------


def _png(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def _picture(seed: int = 0, size=(96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    field = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    return Image.fromarray(field).resize(size, Image.Resampling.BICUBIC)


def test_hashes_ignore_exif_orientation_and_alpha():
    picture = _picture()
    rotated = picture.transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    out = io.BytesIO()
    rotated.save(out, "PNG", exif=exif)
    upright = perceptual_hashes(picture)
    tagged = perceptual_hashes(out.getvalue())
    assert (tagged.phash, tagged.dhash) == (upright.phash, upright.dhash)
    opaque = picture.convert("RGBA")
    assert perceptual_hashes(opaque).phash == upright.phash


def test_duplicate_groups_by_bytes_and_by_pixels():
    picture, other = _picture(1), _picture(2)
    same_bytes = _png(picture)
    resaved = _png(picture, compress_level=0)
    assert same_bytes != resaved
    rows = [("a", [same_bytes]), ("b", [same_bytes]), ("c", [resaved, _png(other)])]
    benchmark = BenchmarkHashes.from_images([("bench", _picture(3))])
    report = scan_subset("toy", rows, Decontaminator(benchmark))
    groups = {(g.kind, tuple(g.image_ids)) for g in report.duplicate_groups}
    assert groups == {("bytes", ("a", "b")), ("pixels", ("a", "b", "c[0]"))}
    assert report.removed == [] and report.images_seen == 4


# --- loading --------------------------------------------------------------------------


def test_folder_loading_is_recursive_and_filters_extensions(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.png").write_bytes(_png(_picture(1)))
    (tmp_path / "sub" / "deeper" / "B.JPG").write_bytes(_png(_picture(2)))
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    ids = [Path(i).relative_to(tmp_path).as_posix() for i, _ in iter_folder_images(tmp_path)]
    assert ids == ["a.png", "sub/deeper/B.JPG"]
    assert len(BenchmarkHashes.load(tmp_path)) == 2


def test_parquet_loading_single_list_and_path_only_cells(tmp_path):
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    (tmp_path / "loose.png").write_bytes(_png(_picture(4)))
    cells = [
        {"bytes": _png(_picture(1)), "path": None},
        {"bytes": None, "path": "loose.png"},
        None,
    ]
    pages = [[{"bytes": _png(_picture(2)), "path": None}], [], None]
    table = pa.table(
        {
            "image": pa.array(cells, image_type),
            "pages": pa.array(pages, pa.list_(image_type)),
            "text": ["x", "y", "z"],
        }
    )
    path = tmp_path / "bench.parquet"
    pq.write_table(table, path)
    ids = [i.split("/")[-1] for i, _ in iter_parquet_images(path)]
    assert ids == ["bench.parquet#0:image", "bench.parquet#0:pages[0]", "bench.parquet#1:image"]
    loaded = BenchmarkHashes.load(tmp_path)
    assert len(loaded) == 4  # the loose image and the three cells


def test_parquet_with_one_image_column_uses_file_and_row(tmp_path):
    table = pa.table({"image": [{"bytes": _png(_picture(k)), "path": None} for k in range(3)]})
    path = tmp_path / "one.parquet"
    pq.write_table(table, path)
    assert [i for i, _ in iter_parquet_images(path)] == [f"{path.as_posix()}#{k}" for k in range(3)]


# --- the index ------------------------------------------------------------------------


def _random_codes(seed: int, size: int, queries: int):
    """Random codes plus queries planted at every distance 0..20 from some of them."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=size, dtype=np.uint64)
    codes[:3] = [0, 2**64 - 1, codes[3]]  # extremes and a repeated code
    found = rng.integers(0, 2**64, size=queries, dtype=np.uint64)
    for k in range(queries // 2):
        bits = rng.choice(64, size=k % 21, replace=False)
        found[k] = codes[rng.integers(size)] ^ np.uint64(sum(1 << int(b) for b in bits))
    return codes, found


@pytest.mark.parametrize("tables", [None, 1, 2, 3, 4, 5, 7, 8])
def test_index_equals_brute_force_on_random_codes(tables):
    codes, queries = _random_codes(seed=tables or 0, size=3000, queries=300)
    index = HammingIndex(codes, tables=tables)
    m = index.tables
    radii = {-1, 0, 1, m - 1, m, m + 1, 2 * m - 1, 2 * m, 7, 10, 12, 16, 20, 63, 64, 70}
    for radius in sorted(radii):
        assert index.search(queries, radius) == brute_force_pairs(codes, queries, radius), radius


def test_query_returns_ids_and_distances_like_brute_force():
    codes, queries = _random_codes(seed=7, size=2000, queries=200)
    ids = [f"img{k}" for k in range(len(codes))]
    index = HammingIndex(codes, ids=ids)
    batch = index.query_batch(queries, 9)
    for query, hits in zip(queries, batch, strict=True):
        expected = brute_force(codes, int(query), 9)
        assert sorted(hits) == sorted((ids[i], d) for i, d in expected)
        assert hits == index.query(int(query), 9)
        assert [d for _, d in hits] == sorted(d for _, d in hits)


def test_index_on_empty_and_tiny_sets():
    assert HammingIndex(np.array([], np.uint64)).query(5, 10) == []
    assert HammingIndex([5, 3]).query(4, 1) == [(0, 1)]
    with pytest.raises(ValueError):
        HammingIndex([1, 2], ids=["only one"])
