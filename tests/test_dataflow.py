"""Every pipeline builds a real Dataflow job request, offline (DataflowRunner with --dry_run).

--dry_run makes the DataflowRunner do everything a launch does (apply its graph
overrides, pickle every function, build the worker environment, build and stage
our package with --setup_file) except submit the job; run_job then returns
{"dry_run": True, "job": <apiclient.Job>} without reading or writing outputs.
"""

import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import apache_beam as beam
import pymupdf
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import (
    DebugOptions,
    GoogleCloudOptions,
    StandardOptions,
    WorkerOptions,
)
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2 as runner_api
from apache_beam.runners.dataflow.internal import apiclient
from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpusio.shards import write_shards
from demo_corpus.cauldron_sources import write_cord
from pipelines import cauldron_subset, docmatix_qa, pack_files, pdf_transcribe, web_docs
from transcription.transcribe import TranscribeOptions, transcribe

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"
IMAGE = "us-central1-docker.pkg.dev/example-project/vlm-corpus/cpu:test"
ACCELERATOR = "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
DATAFLOW = (
    "--output gs://example-bucket/out --runner DataflowRunner --project example-project"
    " --region us-central1 --temp_location gs://example-bucket/tmp --dry_run=True"
).split()
PACKAGING = ["--setup_file", str(ROOT / "setup.py"), "--sdk_container_image", IMAGE]
PACKAGE_DATA = (
    "obelics_filter/filters.yaml",
    "obelics_filter/wordlists/stopwords_en.txt",
    "obelics_filter/wordlists/flagged_en.txt",
)

# name: (module, extra flags, top-level steps the graph must have)
PIPELINES = {
    "pdf_transcribe": (
        pdf_transcribe,
        [],
        {"ReadFiles", "Transcribe", "WriteShards", "WritePages", "WriteRejects"},
    ),
    "docmatix_qa": (
        docmatix_qa,
        [],
        {"ReadShards", "Select", "Resume", "Generate", "Assemble", "WriteShards", "WriteRejects"},
    ),
    "docmatix_qa_beam_vllm": (
        docmatix_qa,
        ["--llm", "beam-vllm", "--model", "microsoft/Phi-4-mini-instruct"],
        {"ReadShards", "RunInference", "Generate", "Assemble", "WriteShards"},
    ),
    "web_docs": (
        web_docs,
        [],
        {"MatchWarcs", "ReadWarc", "Extract", "NearDedup", "WriteRows", "WriteShards"},
    ),
    "cauldron_subset": (
        cauldron_subset,
        ["--subset", "cord_v2"],
        {"ReadSource", "Convert", "Decontaminate", "WriteParquet", "WriteShards"},
    ),
    "pack_files": (pack_files, [], {"ReadFiles", "Pack", "WriteShards", "WriteRejects"}),
}


def _warc(path: Path) -> None:
    html = b"<html><body><h1>Title</h1><p>" + b"Some words. " * 30 + b"</p></body></html>"
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    with path.open("wb") as f:
        writer = WARCWriter(f, gzip=True)
        record = writer.create_warc_record(
            "https://example.com/page", "response", payload=io.BytesIO(html), http_headers=headers
        )
        writer.write_record(record)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, list[str]]:
    """Small real inputs for each pipeline: the --input flags (and other paths) to pass."""
    root = tmp_path_factory.mktemp("dataflow_inputs")
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Invoice 42\nTotal: 12.00 EUR")
    pdf = doc.tobytes()
    (root / "pdf").mkdir()
    (root / "pdf" / "invoice.pdf").write_bytes(pdf)
    sample = transcribe("invoice.pdf", pdf, TranscribeOptions(ocr="never")).sample()
    write_shards(root / "shards", [sample], prefix="pdfa")
    (root / "warc").mkdir()
    _warc(root / "warc" / "crawl.warc.gz")
    write_cord(root, seed=0)
    (root / "benchmark").mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "benchmark" / "b.png")
    shards = ["--input", str(root / "shards" / "*.tar")]
    return {
        "pdf_transcribe": ["--input", str(root / "pdf" / "*.pdf")],
        "docmatix_qa": shards,
        "docmatix_qa_beam_vllm": shards,
        "web_docs": ["--input", str(root / "warc" / "*.warc.gz")],
        "cauldron_subset": [
            "--input",
            str(root / "cauldron" / "cord_v2"),
            "--decontaminate-against",
            str(root / "benchmark"),
        ],
        "pack_files": ["--input", str(root / "pdf" / "*.pdf")],
    }


def _argv(name: str, inputs: dict, *extra: str) -> list[str]:
    return [*inputs[name], *PIPELINES[name][1], *DATAFLOW, *extra]


@pytest.fixture(scope="module")
def jobs(inputs):
    """name -> the Dataflow job each pipeline builds (with our package and worker image)."""
    built = {}

    def job(name: str) -> apiclient.Job:
        if name not in built:
            result = PIPELINES[name][0].run(_argv(name, inputs, *PACKAGING))
            assert result.get("dry_run") is True, "run_job must stop after building the job"
            built[name] = result["job"]
        return built[name]

    return job


def _environments(pipeline: runner_api.Pipeline) -> dict[str, runner_api.Environment]:
    used = {t.environment_id for t in pipeline.components.transforms.values() if t.environment_id}
    return {env_id: pipeline.components.environments[env_id] for env_id in used}


def _staged(env: runner_api.Environment) -> dict[str, str]:
    """Artifacts the workers get: staged name -> local file."""
    staged = {}
    for dep in env.dependencies:
        assert dep.role_urn == common_urns.artifact_roles.STAGING_TO.urn
        name = runner_api.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
        staged[name] = runner_api.ArtifactFilePayload.FromString(dep.type_payload).path
    return staged


def _pickled_functions(pipeline: runner_api.Pipeline) -> list[tuple[str, str, bytes]]:
    """(step, urn, payload) of every pickled DoFn and CombineFn in the graph."""
    combines = {
        common_urns.composites.COMBINE_PER_KEY.urn,
        common_urns.composites.COMBINE_GLOBALLY.urn,
    }
    found = []
    for transform in pipeline.components.transforms.values():
        spec = transform.spec
        if spec.urn == common_urns.primitives.PAR_DO.urn:
            fn = runner_api.ParDoPayload.FromString(spec.payload).do_fn
        elif spec.urn in combines:
            fn = runner_api.CombinePayload.FromString(spec.payload).combine_fn
        else:
            continue
        if fn.urn in (python_urns.PICKLED_DOFN_INFO, python_urns.PICKLED_COMBINE_FN):
            found.append((transform.unique_name, fn.urn, fn.payload))
    return found


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_job_request_has_our_steps_and_runs_in_our_image(jobs, name):
    job = jobs(name)
    assert isinstance(job, apiclient.Job)
    assert job.proto.type_ == apiclient.dataflow.JobType.JOB_TYPE_BATCH
    pipeline = job.proto_pipeline
    top_level = {t.unique_name for t in pipeline.components.transforms.values()}
    missing = PIPELINES[name][2] - top_level
    assert not missing, f"steps missing from the job: {sorted(missing)}"
    envs = _environments(pipeline)
    assert envs
    for env in envs.values():
        assert env.urn == common_urns.environments.DOCKER.urn
        assert runner_api.DockerPayload.FromString(env.payload).container_image == IMAGE
        assert "workflow.tar.gz" in _staged(env)  # our package, built from setup.py


def test_setup_file_ships_every_package_with_its_data(jobs):
    env = next(iter(_environments(jobs("web_docs").proto_pipeline).values()))
    with tarfile.open(_staged(env)["workflow.tar.gz"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]]
    assert "pipelines" in packages
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    missing += [f for f in PACKAGE_DATA if f not in names]
    assert not missing, f"not in the package the workers install: {missing}"


def test_every_function_in_every_graph_unpickles_in_a_fresh_process(jobs, tmp_path):
    payloads = {}
    for name in sorted(PIPELINES):
        found = _pickled_functions(jobs(name).proto_pipeline)
        assert found, f"{name}: no pickled functions found in the job"
        for step, urn, payload in found:
            fn = pickler.loads(payload)
            fn = fn[0] if urn == python_urns.PICKLED_DOFN_INFO else fn
            expected = beam.DoFn if urn == python_urns.PICKLED_DOFN_INFO else beam.CombineFn
            assert isinstance(fn, expected), f"{name} {step}: {type(fn)}"
            assert type(pickler.loads(pickler.dumps(fn))) is type(fn), f"{name} {step}"
        payloads[name] = [(step, payload) for step, _, payload in found]
    # A worker starts with none of the launcher's state: unpickle there too.
    dump = tmp_path / "payloads.pkl"
    dump.write_bytes(pickle.dumps(payloads))
    code = (
        "import pickle, sys\n"
        "from apache_beam.internal import pickler\n"
        "payloads = pickle.load(open(sys.argv[1], 'rb'))\n"
        "for name, steps in payloads.items():\n"
        "    for step, payload in steps:\n"
        "        pickler.loads(payload)\n"
        "print(sum(len(steps) for steps in payloads.values()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(dump)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout) == sum(len(steps) for steps in payloads.values())


def test_dataflow_options_land_in_the_job_request(inputs):
    flags = [
        "--staging_location=gs://example-bucket/staging",
        "--machine_type=g2-standard-8",
        "--max_num_workers=7",
        f"--sdk_container_image={IMAGE}",
        f"--dataflow_service_options={ACCELERATOR}",
        "--experiments=use_runner_v2",
        "--experiments=no_use_multiple_sdk_containers",
        "--number_of_worker_harness_threads=2",
    ]
    job = docmatix_qa.run(_argv("docmatix_qa_beam_vllm", inputs, *flags))["job"]
    options = job.options
    cloud = options.view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region) == ("example-project", "us-central1")
    # the runner adds a folder per job below the locations given
    assert cloud.temp_location.startswith("gs://example-bucket/tmp/")
    assert cloud.staging_location.startswith("gs://example-bucket/staging/")
    assert cloud.dataflow_service_options == [ACCELERATOR]
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    worker = options.view_as(WorkerOptions)
    assert (worker.machine_type, worker.max_num_workers) == ("g2-standard-8", 7)
    assert worker.sdk_container_image == IMAGE
    assert options.view_as(DebugOptions).number_of_worker_harness_threads == 2
    # The environment block of the request, as the runner builds it before submitting.
    env = apiclient.Environment(
        packages=[],
        options=options,
        environment_version="8",
        proto_pipeline_staged_url="gs://example-bucket/staging/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    ).proto
    (pool,) = env.worker_pools
    assert pool.machine_type == "g2-standard-8"
    assert pool.autoscaling_settings.max_num_workers == 7
    assert pool.num_threads_per_worker == 2
    assert {image.container_image for image in pool.sdk_harness_container_images} == {IMAGE}
    assert list(env.service_options) == [ACCELERATOR]
    assert "use_runner_v2" in env.experiments
    assert "no_use_multiple_sdk_containers" in env.experiments
    assert "use_multiple_sdk_containers" not in env.experiments


# Runs each pipeline module as __main__, as `python -m pipelines.X ARGS` does, in one interpreter.
CLI_DRIVER = """
import json, runpy, sys
codes = {}
for module, argv in json.loads(sys.argv[1]).items():
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        codes[module] = 0
    except SystemExit as exc:
        codes[module] = exc.code
print(json.dumps(codes))
"""


def test_every_pipeline_cli_builds_its_job_offline(inputs, tmp_path):
    """The CLIs with --runner DataflowRunner --dry_run=True, with the network guard loaded."""
    log = tmp_path / "netguard.log"
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}", NETGUARD_LOG=str(log))
    names = ("pdf_transcribe", "docmatix_qa", "web_docs", "cauldron_subset", "pack_files")
    # the worker image holds the package; pack_files also ships the source with --setup_file
    runs = {f"pipelines.{name}": _argv(name, inputs, *PACKAGING[2:]) for name in names}
    runs["pipelines.pack_files"] += PACKAGING[:2]
    proc = subprocess.run(
        [sys.executable, "-c", CLI_DRIVER, json.dumps(runs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == dict.fromkeys(runs, 0), proc.stderr[-3000:]
    assert "prism" not in (proc.stdout + proc.stderr).lower()
    assert not log.exists(), f"network used:\n{log.read_text()}"


FLEX_SPECS = sorted((ROOT / "docker" / "flex").glob("*.json"))


@pytest.mark.parametrize("spec", FLEX_SPECS, ids=[spec.stem for spec in FLEX_SPECS])
def test_flex_template_parameters_are_flags_of_their_pipeline(spec, capsys):
    metadata = json.loads(spec.read_text())
    module = PIPELINES[spec.stem][0]
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    flags = set(re.findall(r"--[a-z][a-z_-]*", capsys.readouterr().out))
    assert metadata["name"] and metadata["description"]
    for param in metadata["parameters"]:
        assert f"--{param['name']}" in flags, f"{spec.name}: no flag --{param['name']}"
        assert param["label"] and param["helpText"]
        for regex in param.get("regexes", []):
            re.compile(regex)
