"""The six Idefics3 Cauldron converters on the demo copies of their sources: rows load as
Cauldron rows with Image features, concatenate with a Cauldron-shaped table without casts,
keep image bytes, group turns per image, draw prompts stably, and reject bad items."""

import dataclasses
import io
import json
import shutil
import zipfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cauldron import prompts
from cauldron.schema import FEATURES, SCHEMA, cauldron_row, rows_table
from cauldron.subsets import REGISTRY, SourceImage, SourceItem, cord_v2, llava
from corpusio.accounting import Reject
from corpusio.images import ImageData
from docmatix.qa_rows import IMAGES_FEATURES, IMAGES_SCHEMA, images_row, text_entry
from obelics_filter.fetch import FetchFailure

SOURCE_SUBSETS = ("cord_v2", "lnqa", "sharegpt4o", "iiw400", "geo170k")
EXPECTED_ITEMS = {"cord_v2": 6, "lnqa": 6, "sharegpt4o": 5, "iiw400": 4, "geo170k": 4}


def _png(color=(200, 30, 30), size=(32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def sources(demo_corpus) -> Path:
    root, _ = demo_corpus
    return root / "cauldron"


@pytest.fixture(scope="module")
def docmatix_parquet(tmp_path_factory) -> Path:
    """A parquet file written the way pipelines.docmatix_qa writes the images config."""
    folder = tmp_path_factory.mktemp("docmatix") / "data"
    folder.mkdir()
    rows = [
        images_row(
            [text_entry("doc-a", "What is the total?", "42.", "offline", 3)],
            [_png((10, 10, 10)), _png((250, 250, 250), (20, 30))],
        ),
        images_row(
            [
                text_entry("doc-b", "Who signed?", "Ada.", "offline", 1),
                text_entry("doc-b", "When?", "In 1843.", "offline", 4),
            ],
            [_png((0, 90, 0))],
        ),
    ]
    path = folder / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=IMAGES_SCHEMA), path)
    return path.parent.parent


def _source_path(sources: Path, docmatix_parquet: Path, name: str) -> Path:
    return docmatix_parquet if name == "docmatix" else sources / name


def _rows(name: str, path: Path, seed: int = 0) -> list[dict]:
    converter = REGISTRY[name]
    results = [converter.convert(item, seed) for item in converter.read_source(path)]
    assert not [r for r in results if isinstance(r, Reject)]
    return results


def _reference() -> datasets.Dataset:
    """A small table shaped like HuggingFaceM4/the_cauldron, built from FEATURES."""
    return datasets.Dataset.from_dict(
        {
            "images": [[{"bytes": _png(), "path": None}]],
            "texts": [
                [
                    {
                        "user": "Question: What color is it?\nChoices:\nA. red\nB. blue\n"
                        "Answer with the letter.",
                        "assistant": "Answer: A",
                        "source": "reference",
                    }
                ]
            ],
        },
        features=FEATURES,
    )


def _load(path: Path, tmp_path: Path) -> datasets.Dataset:
    return datasets.load_dataset(
        "parquet",
        data_files={"train": str(path)},
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )


# --- schema --------------------------------------------------------------------------


def test_schema_matches_docmatix_and_carries_feature_metadata():
    assert FEATURES == IMAGES_FEATURES
    assert SCHEMA == IMAGES_SCHEMA
    metadata = json.loads(SCHEMA.metadata[b"huggingface"])
    assert metadata["info"]["features"]["images"]["feature"]["_type"] == "Image"
    assert set(FEATURES["texts"].feature) == {"user", "assistant", "source"}


def test_registry_names_every_subset():
    assert set(REGISTRY) == {*SOURCE_SUBSETS, "docmatix"}
    assert all(converter.name == name for name, converter in REGISTRY.items())


# --- each converter ------------------------------------------------------------------


@pytest.mark.parametrize("name", [*SOURCE_SUBSETS, "docmatix"])
def test_rows_load_as_cauldron_and_concatenate_without_casts(
    name, sources, docmatix_parquet, tmp_path
):
    rows = _rows(name, _source_path(sources, docmatix_parquet, name))
    if name in EXPECTED_ITEMS:
        assert len(rows) == EXPECTED_ITEMS[name]
        assert all(turn["source"] == name for row in rows for turn in row["texts"])
    assert all(turn["user"] and turn["assistant"] for row in rows for turn in row["texts"])
    assert all("<image>" not in turn["user"] for row in rows for turn in row["texts"])

    path = tmp_path / f"{name}.parquet"
    pq.write_table(rows_table(rows), path)
    ours = _load(path, tmp_path)
    assert ours.features == FEATURES
    assert isinstance(ours.features["images"].feature, datasets.Image)
    first = ours[0]["images"][0]
    assert isinstance(first, Image.Image) and first.size[0] > 0

    reference = _reference()
    both = datasets.concatenate_datasets([ours, reference])
    assert both.features == FEATURES
    assert len(both) == len(rows) + 1
    assert both[len(rows)]["texts"][0]["assistant"] == "Answer: A"


def test_images_keep_their_original_bytes(sources):
    cells = pq.read_table(sources / "cord_v2/data/train-00000-of-00001.parquet").column("image")
    rows = _rows("cord_v2", sources / "cord_v2")
    assert [row["images"][0]["bytes"] for row in rows] == [c["bytes"] for c in cells.to_pylist()]

    records = [
        json.loads(line)
        for line in (sources / "sharegpt4o/image_conversations/gpt-4o.jsonl").open()
    ]
    rows = _rows("sharegpt4o", sources / "sharegpt4o")
    for record, row in zip(records, rows, strict=True):
        assert (
            row["images"][0]["bytes"]
            == (sources / "sharegpt4o/images" / record["image"]).read_bytes()
        )


def test_default_splits_are_train_and_all_can_be_asked_for(sources):
    cord = REGISTRY["cord_v2"]
    assert len(list(cord.read_source(sources / "cord_v2"))) == 6
    assert len(list(cord.read_source(sources / "cord_v2", splits=None))) == 10
    one_file = sources / "cord_v2/data/test-00000-of-00001.parquet"
    assert [i.id for i in cord.read_source(one_file)] == [
        "test-00000-of-00001/0",
        "test-00000-of-00001/1",
    ]


# --- cord_v2 -------------------------------------------------------------------------


def test_cord_answer_is_canonical_json_of_gt_parse(sources):
    table = pq.read_table(sources / "cord_v2/data/train-00000-of-00001.parquet")
    truths = [json.loads(t)["gt_parse"] for t in table.column("ground_truth").to_pylist()]
    rows = _rows("cord_v2", sources / "cord_v2")
    for truth, row in zip(truths, rows, strict=True):
        (turn,) = row["texts"]
        assert json.loads(turn["assistant"]) == truth
        assert turn["assistant"] == cord_v2.canonical_json(json.loads(turn["assistant"]))
        assert "json" in turn["user"].lower()
    single = [json.loads(row["texts"][0]["assistant"]) for row in rows]
    assert isinstance(single[1]["menu"], dict), "a one-item receipt keeps menu as an object"


def test_cord_json_keeps_non_ascii_and_round_trips():
    gt_parse = {
        "menu": [{"nm": "Café Crème", "cnt": "2", "price": "9,000"}, {"nm": "抹茶", "cnt": "1"}],
        "total": {"total_price": "12,000", "note": 'say "hi"\\'},
    }
    ground_truth = json.dumps({"gt_parse": gt_parse, "meta": {"version": "2.0.0"}})
    item = SourceItem(
        "cord_v2", "x/0", (SourceImage("x", data=_png()),), ({"ground_truth": ground_truth},)
    )
    row = cord_v2.convert(item, seed=0)
    answer = row["texts"][0]["assistant"]
    assert "Café Crème" in answer and "抹茶" in answer
    assert json.loads(answer) == gt_parse
    assert answer.index('"menu"') < answer.index('"total"')


@pytest.mark.parametrize("ground_truth", ["{not json", json.dumps({"meta": {}}), None])
def test_cord_bad_ground_truth_is_rejected(ground_truth):
    item = SourceItem(
        "cord_v2", "x/0", (SourceImage("x", data=_png()),), ({"ground_truth": ground_truth},)
    )
    result = cord_v2.convert(item, seed=0)
    assert isinstance(result, Reject) and result.reason == "bad_annotation"
    assert result.id == "cord_v2/x/0"


# --- multi-turn grouping ---------------------------------------------------------------


def test_lnqa_one_row_per_image_one_turn_per_qa(sources):
    table = pq.read_table(sources / "lnqa/data/train-00000-of-00001.parquet")
    qas = table.column("qa").to_pylist()
    rows = _rows("lnqa", sources / "lnqa")
    for qa, row in zip(qas, rows, strict=True):
        assert len(row["images"]) == 1
        assert [(t["user"], t["assistant"]) for t in row["texts"]] == [
            (pair["question"], pair["answer"]) for pair in qa
        ]


def test_geo170k_groups_records_by_figure_across_files(sources):
    folder = sources / "geo170k"
    records = [
        *json.loads((folder / "qa_tuning.json").read_text()),
        *json.loads((folder / "alignment.json").read_text()),
    ]
    items = list(REGISTRY["geo170k"].read_source(folder))
    assert len({item.id for item in items}) == len(items) == len({r["image"] for r in records})
    by_id = {item.id: REGISTRY["geo170k"].convert(item, 0) for item in items}
    assert sum(len(row["texts"]) for row in by_id.values()) == len(records)
    for image in {r["image"] for r in records}:
        expected = [
            llava.strip_marker(turn["value"])
            for r in records
            if r["image"] == image
            for turn in r["conversations"]
        ]
        texts = by_id[image]["texts"]
        assert [part for t in texts for part in (t["user"], t["assistant"])] == expected
    assert any(len(row["texts"]) > 1 for row in by_id.values())
    first_user = by_id["geoqa_plus/1000.png"]["texts"][0]["user"]
    assert first_user.startswith("First perform reasoning")


def test_geo170k_parquet_copies_give_the_same_rows(sources, tmp_path):
    folder = tmp_path / "geo170k"
    (folder / "data").mkdir(parents=True)
    for file in (sources / "geo170k/data").glob("*.parquet"):
        shutil.copy(file, folder / "data" / file.name)
    shutil.copy(sources / "geo170k/images.zip", folder / "images.zip")
    assert _rows("geo170k", folder) == _rows("geo170k", sources / "geo170k")


def test_sharegpt4o_conversations_about_one_image_are_one_row(sources, tmp_path):
    folder = tmp_path / "sharegpt4o"
    shutil.copytree(sources / "sharegpt4o", folder)
    jsonl = folder / "image_conversations/gpt-4o.jsonl"
    records = [json.loads(line) for line in jsonl.open()]
    follow_up = {
        "id": "extra",
        "image": records[0]["image"],
        "conversations": [
            {"from": "human", "value": "What is the main color?\n<image>"},
            {"from": "gpt", "value": "Mostly blue."},
            {"from": "human", "value": "Any people?"},
            {"from": "gpt", "value": "No."},
        ],
    }
    jsonl.write_text("\n".join(json.dumps(r) for r in [*records, follow_up]) + "\n")
    rows = _rows("sharegpt4o", folder)
    assert len(rows) == len(records)
    assert [t["user"] for t in rows[0]["texts"]][1:] == ["What is the main color?", "Any people?"]
    assert rows[0]["texts"][0]["assistant"] == records[0]["conversations"][1]["value"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<image>\nDescribe it.", "Describe it."),
        ("Describe it.\n<image>", "Describe it."),
        ("Look:\n<image>\nWhat is it?", "Look:\nWhat is it?"),
        ("No marker\n\nkept as is", "No marker\n\nkept as is"),
    ],
)
def test_strip_marker(text, expected):
    assert llava.strip_marker(text) == expected


def test_conversation_that_does_not_alternate_is_rejected():
    record = {"image": "a.png", "conversations": [{"from": "human", "value": "<image>\nHi"}]}
    item = SourceItem("geo170k", "a.png", (SourceImage("a", data=_png()),), (record,))
    result = REGISTRY["geo170k"].convert(item, 0)
    assert isinstance(result, Reject) and result.reason == "bad_conversation"


# --- prompts -------------------------------------------------------------------------


def test_prompt_draw_is_deterministic_and_order_independent(sources):
    converter = REGISTRY["iiw400"]
    items = list(converter.read_source(sources / "iiw400"))
    forward = {item.id: converter.convert(item, 7) for item in items}
    backward = {item.id: converter.convert(item, 7) for item in reversed(items)}
    assert forward == backward
    ids = [f"row-{n}" for n in range(200)]
    draws = [prompts.draw(3, "cord_v2", i) for i in ids]
    assert draws == [prompts.draw(3, "cord_v2", i) for i in reversed(ids)][::-1]
    assert set(draws) == set(prompts.PROMPTS["cord_v2"])
    assert draws != [prompts.draw(4, "cord_v2", i) for i in ids]
    assert all(len(phrasings) > 1 for phrasings in prompts.PROMPTS.values())


# --- missing and bad images ------------------------------------------------------------


def test_iiw400_without_local_image_is_a_clear_reject_and_can_be_fetched(sources, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    converter = REGISTRY["iiw400"]
    items = list(converter.read_source(sources / "iiw400", images=empty))
    assert len(items) == 4
    result = converter.convert(items[0], 0)
    url = json.loads((sources / "iiw400/data.jsonl").read_text().splitlines()[0])["image/url"]
    assert isinstance(result, Reject) and result.reason == "image_missing"
    assert url in result.detail and result.id == "iiw400/aar_test_04600"
    assert items[0].urls_to_fetch() == [url]

    data = (sources / "iiw400/images_aar/aar_test_04600.jpg").read_bytes()
    fetched = items[0].with_fetched({url: ImageData(url, data, 600, 450, "jpeg")})
    assert fetched.urls_to_fetch() == []
    assert converter.convert(fetched, 0)["images"][0]["bytes"] == data

    refused = items[0].with_fetched({url: FetchFailure(url, "robots_txt", "disallowed")})
    result = converter.convert(refused, 0)
    assert isinstance(result, Reject) and result.reason == "fetch_robots_txt"


def test_iiw400_finds_an_image_by_url_basename(sources, tmp_path):
    folder = tmp_path / "by_url"
    folder.mkdir()
    record = json.loads((sources / "iiw400/data.jsonl").read_text().splitlines()[1])
    data = (sources / "iiw400/images_aar" / f"{record['image/key']}.jpg").read_bytes()
    (folder / record["image/url"].rsplit("/", 1)[1]).write_bytes(data)
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text(json.dumps({**record, "image/key": "renamed"}) + "\n")
    (item,) = REGISTRY["iiw400"].read_source(jsonl, images=folder)
    assert REGISTRY["iiw400"].convert(item, 0)["images"][0]["bytes"] == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"definitely not an image", "image_undecodable"), (None, "image_missing")],
)
def test_undecodable_or_missing_embedded_image_is_rejected(sources, data, reason):
    item = next(REGISTRY["lnqa"].read_source(sources / "lnqa"))
    broken = dataclasses.replace(item, images=(dataclasses.replace(item.images[0], data=data),))
    result = REGISTRY["lnqa"].convert(broken, 0)
    assert isinstance(result, Reject) and result.reason == reason
    assert result.id == f"lnqa/{item.id}" and item.images[0].ref in result.detail


def test_truncated_image_is_rejected(sources):
    item = next(REGISTRY["cord_v2"].read_source(sources / "cord_v2"))
    data = item.images[0].data
    cut = dataclasses.replace(item.images[0], data=data[: len(data) // 2])
    result = REGISTRY["cord_v2"].convert(dataclasses.replace(item, images=(cut,)), 0)
    assert isinstance(result, Reject) and result.reason.startswith("image_")


def test_image_missing_from_zip_or_folder_is_rejected(sources, tmp_path):
    folder = tmp_path / "geo170k"
    folder.mkdir()
    shutil.copy(sources / "geo170k/qa_tuning.json", folder / "qa_tuning.json")
    with zipfile.ZipFile(sources / "geo170k/images.zip") as full:
        with zipfile.ZipFile(folder / "images.zip", "w") as partial:
            for name in full.namelist():
                if not name.endswith("1000.png"):
                    partial.writestr(name, full.read(name))
    converter = REGISTRY["geo170k"]
    results = {
        i.id: converter.convert(i, 0) for i in converter.read_source(folder, splits=("qa_tuning",))
    }
    missing = results["geoqa_plus/1000.png"]
    assert isinstance(missing, Reject) and missing.reason == "image_missing"
    assert "geoqa_plus/1000.png" in missing.detail
    assert sum(not isinstance(r, Reject) for r in results.values()) == 2

    share = tmp_path / "sharegpt4o"
    shutil.copytree(sources / "sharegpt4o", share)
    first = json.loads((share / "image_conversations/gpt-4o.jsonl").read_text().splitlines()[0])
    (share / "images" / first["image"]).unlink()
    result = REGISTRY["sharegpt4o"].convert(next(REGISTRY["sharegpt4o"].read_source(share)), 0)
    assert isinstance(result, Reject) and result.reason == "image_missing"


def test_image_path_leaving_the_image_root_is_rejected(sources, tmp_path):
    jsonl = tmp_path / "gpt-4o.jsonl"
    record = {
        "id": "evil",
        "image": "../../secret.jpg",
        "conversations": [
            {"from": "human", "value": "<image>\nHi"},
            {"from": "gpt", "value": "Hello"},
        ],
    }
    jsonl.write_text(json.dumps(record) + "\n")
    (item,) = REGISTRY["sharegpt4o"].read_source(jsonl, images=sources / "sharegpt4o/images")
    result = REGISTRY["sharegpt4o"].convert(item, 0)
    assert isinstance(result, Reject) and result.reason == "unsafe_image_path"


# --- docmatix --------------------------------------------------------------------------


def test_docmatix_rows_pass_through_unchanged(docmatix_parquet):
    table = pq.read_table(docmatix_parquet / "data/train-00000-of-00001.parquet").to_pylist()
    rows = _rows("docmatix", docmatix_parquet)
    assert rows == table
    assert len(rows[0]["images"]) == 2 and rows[0]["texts"][0]["source"].startswith("PDFA key:")


def test_cauldron_row_builder():
    row = cauldron_row([b"png"], [("q1", "a1"), ("q2", "a2")], "lnqa")
    assert row == {
        "images": [{"bytes": b"png", "path": None}],
        "texts": [
            {"user": "q1", "assistant": "a1", "source": "lnqa"},
            {"user": "q2", "assistant": "a2", "source": "lnqa"},
        ],
    }
