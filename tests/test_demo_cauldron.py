"""The Cauldron source copies load the way the real downloads do, and the benchmark
images are near-duplicates (or not) exactly as the index says."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import datasets
import imagehash
import pyarrow.parquet as pq
import pytest
from PIL import Image

from demo_corpus import cauldron_sources

REPO = Path(__file__).resolve().parents[1]
NEAR, FAR = 10, 16
IIW_FIELDS = {
    "IIW",
    "IIW-P5B",
    "iiw-human-sxs-gpt4v",
    "iiw-human-sxs-iiw-p5b",
    "image/key",
    "image/url",
    "objects",
}


@pytest.fixture(scope="module")
def corpus(demo_corpus):
    root, index = demo_corpus
    entries = [e for e in index["files"] if e["kind"] == "cauldron-source"]
    return root, entries


def _subset(entries, subset, suffix=""):
    return [e for e in entries if e["subset"] == subset and e["path"].endswith(suffix)]


def _load_parquet(root, entry, tmp_path):
    data = str(root / entry["path"])
    return datasets.load_dataset(
        "parquet", data_files={"train": data}, split="train", cache_dir=str(tmp_path / "hf")
    )


def _decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def _check_conversation(turns, first_prefix="<image>\n"):
    assert len(turns) % 2 == 0 and turns
    assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
    assert turns[0]["value"].startswith(first_prefix)
    assert all(t["value"].strip() for t in turns)


def test_cord_v2_loads_with_image_feature_and_ground_truth(corpus, tmp_path):
    root, entries = corpus
    splits = {e["split"]: e for e in _subset(entries, "cord_v2")}
    assert set(splits) == {"train", "validation", "test"}
    single_item_menus = 0
    for split, entry in splits.items():
        assert entry["path"] == f"cauldron/cord_v2/data/{split}-00000-of-00001.parquet"
        table = _load_parquet(root, entry, tmp_path)
        assert isinstance(table.features["image"], datasets.Image)
        assert len(table) == entry["rows"]
        for row in table:
            truth = json.loads(row["ground_truth"])
            parse = truth["gt_parse"]
            assert set(parse) >= {"menu", "sub_total", "total"}
            single_item_menus += isinstance(parse["menu"], dict)
            size = truth["meta"]["image_size"]
            assert row["image"].size == (size["width"], size["height"])
            assert set(truth) == {
                "gt_parse",
                "meta",
                "valid_line",
                "roi",
                "repeating_symbol",
                "dontcare",
            }
            _check_cord_arithmetic(parse)
            _check_valid_line(truth, row["image"].size)
    assert single_item_menus >= 1


def _amount(text: str) -> int:
    return int(text.replace(",", ""))


def _check_cord_arithmetic(parse):
    menu = parse["menu"] if isinstance(parse["menu"], list) else [parse["menu"]]
    subtotal = sum(_amount(item["price"]) for item in menu)
    assert _amount(parse["sub_total"]["subtotal_price"]) == subtotal
    total = subtotal + _amount(parse["sub_total"]["tax_price"])
    assert _amount(parse["total"]["total_price"]) == total
    assert _amount(parse["total"]["cashprice"]) - total == _amount(parse["total"]["changeprice"])


def _check_valid_line(truth, size):
    """Every annotated word sits inside the picture, and the words spell the gt_parse values."""
    width, height = size
    words = {}
    for line in truth["valid_line"]:
        for word in line["words"]:
            quad = word["quad"]
            assert all(
                0 <= quad[f"x{i}"] <= width and 0 <= quad[f"y{i}"] <= height for i in range(1, 5)
            )
            if not word["is_key"]:
                words.setdefault(line["category"], []).append(word["text"])
    total = " ".join(words["total.total_price"])
    assert total == truth["gt_parse"]["total"]["total_price"]


def test_lnqa_loads_with_image_feature_and_qa_list(corpus, tmp_path):
    root, entries = corpus
    for entry in _subset(entries, "lnqa", ".parquet"):
        table = _load_parquet(root, entry, tmp_path)
        assert isinstance(table.features["image"], datasets.Image)
        assert len(table) == entry["rows"]
        for row in table:
            assert row["image"].size[0] >= 200
            assert row["qa"] and all(set(p) == {"question", "answer"} for p in row["qa"])
            assert all(p["question"].endswith("?") and p["answer"] for p in row["qa"])


def test_sharegpt4o_records_point_at_decodable_images(corpus, tmp_path):
    root, entries = corpus
    (entry,) = _subset(entries, "sharegpt4o", ".jsonl")
    assert entry["path"] == "cauldron/sharegpt4o/image_conversations/gpt-4o.jsonl"
    table = datasets.load_dataset(
        "json", data_files=str(root / entry["path"]), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert len(table) == entry["rows"] == 5
    folder = root / "cauldron/sharegpt4o/images"
    for row in table:
        _check_conversation(row["conversations"])
        assert _decode((folder / row["image"]).read_bytes()).format == "JPEG"
        assert len(row["conversations"][1]["value"].split()) > 60


def test_iiw400_urls_resolve_to_local_images(corpus):
    root, entries = corpus
    (entry,) = _subset(entries, "iiw400", ".jsonl")
    rows = [json.loads(line) for line in (root / entry["path"]).read_text().splitlines()]
    assert len(rows) == entry["rows"]
    for row in rows:
        assert set(row) == IIW_FIELDS
        url = row["image/url"]
        assert url.startswith("https://") and url.split("/")[2].endswith(".example")
        name = url.rsplit("/", 1)[1]
        assert name == f"{row['image/key']}.jpg"
        _decode((root / "cauldron/iiw400/images_aar" / name).read_bytes())
        for obj in row["objects"]:
            y0, x0, y1, x1 = map(int, obj["normalized_coords"])
            assert 0 <= y0 <= y1 <= 999 and 0 <= x0 <= x1 <= 999
        assert len(row["iiw-human-sxs-gpt4v"]) == 5 and row["IIW"].count(".") >= 3


def test_geo170k_images_live_in_the_zip(corpus, tmp_path):
    root, entries = corpus
    folder = root / "cauldron/geo170k"
    with zipfile.ZipFile(folder / "images.zip") as archive:
        members = set(archive.namelist())
        for split in ("qa_tuning", "alignment"):
            rows = json.loads((folder / f"{split}.json").read_text())
            (entry,) = [e for e in _subset(entries, "geo170k", f"{split}.json")]
            assert len(rows) == entry["rows"]
            for row in rows:
                _check_conversation(row["conversations"])
                assert f"images/{row['image']}" in members
                _decode(archive.read(f"images/{row['image']}"))
            hub = datasets.load_dataset(
                "parquet",
                data_files={split: str(folder / f"data/{split}-00000-of-00001.parquet")},
                split=split,
                cache_dir=str(tmp_path / "hf"),
            )
            assert hub.to_list() == rows
        for info in archive.infolist():
            assert info.date_time == (2024, 1, 15, 12, 0, 0)
    answers = [
        r["conversations"][1]["value"] for r in json.loads((folder / "qa_tuning.json").read_text())
    ]
    assert all(a.rsplit("Answer:", 1)[1] in "ABCD" for a in answers)


def _source_images(root: Path) -> dict[str, Image.Image]:
    """Every image the six sources hold, keyed like the benchmark entries point at them."""
    out = {}
    cauldron = root / "cauldron"
    for path in sorted(cauldron.rglob("*")):
        key = path.relative_to(root).as_posix()
        if "benchmark_images" in key:
            continue
        if path.suffix in (".jpg", ".png"):
            out[key] = _decode(path.read_bytes())
        elif path.suffix == ".parquet" and "image" in pq.read_schema(path).names:
            column = pq.read_table(path, columns=["image"]).column("image").to_pylist()
            if isinstance(column[0], dict):
                out.update({f"{key}#{i}": _decode(c["bytes"]) for i, c in enumerate(column)})
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                out.update({f"{key}!{n}": _decode(archive.read(n)) for n in archive.namelist()})
    return out


def _source_key(entry) -> str:
    if "member" in entry:
        return f"{entry['duplicate_of']}!{entry['member']}"
    if "row" in entry:
        return f"{entry['duplicate_of']}#{entry['row']}"
    return entry["duplicate_of"]


def test_benchmark_near_duplicates_and_unrelated_images(corpus):
    root, entries = corpus
    hashes = {k: imagehash.phash(v.convert("RGB")) for k, v in _source_images(root).items()}
    bench = _subset(entries, "benchmark_images")
    assert sum(e["duplicate_of"] is not None for e in bench) >= 3
    assert sum(e["duplicate_of"] is None for e in bench) >= 2
    report = []
    for entry in bench:
        picture = _decode((root / entry["path"]).read_bytes()).convert("RGB")
        ranked = sorted((imagehash.phash(picture) - h, k) for k, h in hashes.items())
        nearest, key = int(ranked[0][0]), ranked[0][1]
        report.append((entry["path"], entry.get("transform"), nearest, key))
        if entry["duplicate_of"] is None:
            assert nearest >= FAR, report[-1]
        else:
            assert key == _source_key(entry), report[-1]
            assert nearest <= NEAR and nearest == entry["phash_distance"], report[-1]
            assert ranked[1][0] >= FAR, (report[-1], ranked[1])
    print("\npHash distance to nearest source image:")
    for line in report:
        print("  ", *line)


def test_cauldron_index_counts_match_files(corpus):
    root, entries = corpus
    for entry in entries:
        path = root / entry["path"]
        assert path.is_file()
        if path.suffix == ".parquet":
            assert pq.read_metadata(path).num_rows == entry["rows"]
            assert b"huggingface" in pq.read_schema(path).metadata
        elif path.suffix == ".jsonl":
            assert len(path.read_text().splitlines()) == entry["rows"]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_another_seed_changes_the_cauldron_sources_part(demo_corpus, tmp_path):
    root, index = demo_corpus
    cauldron_sources.write(tmp_path, 1)
    other = _hashes(tmp_path)
    first = {e["path"]: e["sha256"] for e in index["files"] if e["path"] in other}
    changed = [p for p in first if p.endswith(".parquet") and first[p] != other.get(p)]
    assert len(changed) >= 5
