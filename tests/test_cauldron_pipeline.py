"""pipelines.cauldron_subset on the demo sources: hub layout, decontamination, validation."""

import json
from pathlib import Path

import datasets
import pytest

from cauldron import validate
from cauldron.schema import FEATURES
from pipelines import cauldron_subset

SUBSETS = ("cord_v2", "lnqa", "sharegpt4o", "iiw400", "geo170k")


@pytest.fixture(scope="module")
def built(demo_corpus, tmp_path_factory):
    root, index = demo_corpus
    out = tmp_path_factory.mktemp("cauldron")
    manifests = {
        subset: cauldron_subset.run(
            [
                "--subset",
                subset,
                "--input",
                str(root / "cauldron" / subset),
                "--output",
                str(out),
                "--decontaminate-against",
                str(root / "cauldron" / "benchmark_images"),
                "--direct_num_workers",
                "1",
            ]
        )
        for subset in SUBSETS
    }
    return root, index, out, manifests


def test_each_subset_loads_with_image_features_and_concatenates(built):
    root, index, out, manifests = built
    reference = datasets.Dataset.from_dict({"images": [], "texts": []}, features=FEATURES)
    for subset in SUBSETS:
        assert manifests[subset]["balanced"]
        files = sorted((out / subset).glob("train-*-of-*.parquet"))
        assert files, subset
        loaded = datasets.load_dataset("parquet", data_files=[str(f) for f in files])["train"]
        assert loaded.features == FEATURES
        assert loaded.num_rows == manifests[subset]["stages"]["shards"]["out"]
        assert datasets.concatenate_datasets([loaded, reference]).num_rows == loaded.num_rows
        first = loaded[0]
        assert first["images"][0].size[0] > 0
        assert all(t["source"] == subset for t in first["texts"])
        card = (out / subset / "README.md").read_text()
        assert f"config_name: {subset}" in card and "benchmark_images" in card


def test_planted_benchmark_copies_are_removed_and_nothing_else(built):
    root, index, out, manifests = built
    planted = [e for e in index["files"] if e.get("duplicate_of")]
    assert planted
    removed = []
    for subset in SUBSETS:
        report = json.loads((out / subset / "decontamination.json").read_text())
        removed += [
            Path(m["benchmark_id"]).name
            for r in report["removed_for_benchmark_match"]
            for m in r["matches"]
        ]
    assert sorted(removed) == sorted(Path(e["path"]).name for e in planted)
    total = sum(m["stages"]["decontaminate"]["rejected"] for m in manifests.values())
    assert total == len(planted)


def test_cord_answers_parse_back_to_the_ground_truth(built):
    root, index, out, manifests = built
    files = sorted((out / "cord_v2").glob("train-*.parquet"))
    rows = datasets.load_dataset("parquet", data_files=[str(f) for f in files])["train"]
    for row in rows:
        parsed = json.loads(row["texts"][0]["assistant"])
        assert isinstance(parsed, dict) and parsed


def test_validate_passes_on_the_output_and_fails_on_broken_rows(built, tmp_path, capsys):
    root, index, out, manifests = built
    assert validate.main([str(out)]) == 0
    assert "lnqa:" in capsys.readouterr().out
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cauldron.schema import SCHEMA

    bad = pa.Table.from_pylist(
        [
            {
                "images": [{"bytes": b"not an image", "path": None}],
                "texts": [{"user": "", "assistant": "a", "source": "x"}],
            }
        ],
        schema=SCHEMA,
    )
    (tmp_path / "broken").mkdir()
    pq.write_table(bad, tmp_path / "broken" / "train-00000-of-00001.parquet")
    assert validate.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "does not decode" in err and "turn 0 is empty" in err
