"""pipelines.docmatix_qa end to end: offline backend, openai backend on a loopback server."""

import json
from pathlib import Path

import datasets
import pytest
import webdataset as wds

from pipelines import docmatix_qa, pdf_transcribe
from tests.llm_server import LlmServer, Ok, Status

MESSY_REPLY = (
    "Here are some questions about the document.\n\n"
    "**Q1:** What does the document describe?\n**A1:** It describes {topic}\n\n"
    "Q2: Is the budget known?\nA2: Unanswerable.\n\n"
    "Q3: What is the growth rate?\nA3: It grew by 3.5 percent.\n\n"
    "I hope this helps!"
)


@pytest.fixture(scope="module")
def transcripts(demo_corpus, tmp_path_factory):
    """Shards of the demo's digital PDFs (no rendered pages: QA renders them from the PDF)."""
    root, _ = demo_corpus
    out = tmp_path_factory.mktemp("transcripts")
    pdf_transcribe.run(["--input", str(root / "pdf/digital/*.pdf"), "--output", str(out)])
    return out / "shards"


def _qa(shards: Path, out: Path, *extra: str) -> dict:
    return docmatix_qa.run(["--input", str(shards / "*.tar"), "--output", str(out), *extra])


def _load(out: Path, config: str = "data") -> datasets.DatasetDict:
    return datasets.load_dataset("parquet", data_dir=str(out / config))


def _rows_by_source(dataset) -> dict[str, list[dict]]:
    rows = {}
    for row in dataset:
        key = row["texts"][0]["source"].split(";")[0]
        rows[key] = row["texts"]
    return rows


def test_offline_run_writes_a_docmatix_dataset(transcripts, tmp_path):
    manifest = _qa(transcripts, tmp_path / "qa", "--zero-shot-split", "1")
    assert manifest["balanced"] and manifest["generator"] == "offline-extractive"
    stages = manifest["stages"]
    assert stages["read_documents"]["out"] == 4
    assert stages["assemble"]["stats"]["pairs_kept"] > 0
    loaded = _load(tmp_path / "qa")
    assert set(loaded) == {"train", "test"} and loaded["test"].num_rows == 1
    assert loaded["train"].num_rows + 1 == stages["assemble"]["out"]
    assert isinstance(loaded["train"].features["images"].feature, datasets.Image)
    train_keys = set(_rows_by_source(loaded["train"]))
    assert not train_keys & set(_rows_by_source(loaded["test"]))
    row = loaded["train"][0]
    assert row["images"] and max(row["images"][0].size) <= 2940
    assert all("generator: offline-extractive" in t["source"] for t in row["texts"])
    assert all(t["user"] and t["assistant"] for t in row["texts"])
    pdf = _load(tmp_path / "qa", "pdf")
    assert pdf["train"][0]["pdf"].startswith(b"%PDF")
    info = json.loads((tmp_path / "qa" / "shards" / "_info.json").read_text())
    urls = [str(tmp_path / "qa" / "shards" / n) for n in info["splits"]["train"]["filenames"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert len(samples) == stages["assemble"]["out"]
    assert all("0000.png" in s and json.loads(s["json"])["texts"] for s in samples)


def _plan_failing(marker: str):
    def plan(seen):
        if marker in seen.prompt:
            return Status(500)
        return Ok(MESSY_REPLY.format(topic=f"item {seen.attempt}"))

    return plan


def _healthy(seen):
    return Ok(MESSY_REPLY.format(topic="item 1"))


def _openai_args(server: LlmServer) -> list[str]:
    return [
        "--llm",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        server.model,
        "--concurrency",
        "2",
        "--max-attempts",
        "2",
        "--request-timeout",
        "5",
        "--direct_num_workers",
        "2",
    ]


def test_openai_backend_filters_fails_and_resumes(transcripts, tmp_path):
    out = tmp_path / "qa"
    with LlmServer(_plan_failing("Invoice number"), latency=0.05) as server:
        first = _qa(transcripts, out, *_openai_args(server))
        assert server.max_in_flight <= 4  # 2 per worker process, 2 workers
    stages = first["stages"]
    chunks = stages["select"]["stats"]["chunks"]
    generate = stages["generate"]
    assert generate["in"] == chunks
    assert generate["rejected_by_reason"] == {"llm_server_error": 1}
    assert stages["assemble"]["rejected_by_reason"] == {"no_pairs": 1}
    filtered = stages["assemble"]["stats"]
    good = chunks - 1
    assert filtered["pairs_kept"] == good
    assert filtered["dropped_unanswerable"] == good
    assert filtered["dropped_dotted_token"] == good
    rejects = [
        json.loads(x) for f in out.glob("rejects-*.jsonl") for x in f.read_text().split("\n") if x
    ]
    assert {r["reason"] for r in rejects} == {"llm_server_error", "no_pairs"}

    with LlmServer(_healthy, latency=0.01) as server:
        second = _qa(transcripts, out, *_openai_args(server))
        assert len(server.requests) == 1  # only the chunk that failed
    assert second["stages"]["resume"]["stats"] == {"done": chunks - 1, "todo": 1}
    assert second["stages"]["assemble"]["rejected"] == 0

    with LlmServer(_healthy, latency=0.01) as server:
        _qa(transcripts, tmp_path / "clean", *_openai_args(server))
    assert _rows_by_source(_load(out)["train"]) == _rows_by_source(
        _load(tmp_path / "clean")["train"]
    )
