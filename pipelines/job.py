"""Run a pipeline graph, then write its manifest and report and check the accounting.

Counts come from Beam's metrics (committed values where the runner has them),
so they are the same whether the job ran locally or on Dataflow.
"""

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import TestOptions

from corpusio.accounting import build_manifest, check_manifest, stage_counts
from corpusio.report import render_markdown
from pipelines.files import join, read_bytes, write_bytes
from pipelines.outputs import (
    MANIFEST_NAME,
    clear_work,
    prepare_output,
    temporary_files_under,
)
from pipelines.parts import forget_open_parts
from pipelines.resume import ResumeOptions, resume_counts
from runreport import write_html_report

REPORT_NAME = "report.md"
HTML_REPORT_NAME = "report.html"
NO_WAIT_ENV = "VLM_CORPUS_NO_WAIT"  # set in Flex Template images: same as --no-wait


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collect_counters(result) -> dict[tuple[str, str], int]:
    """Sum each counter over the steps that incremented it."""
    counters: dict[tuple[str, str], int] = {}
    for metric in result.metrics().query(MetricsFilter())["counters"]:
        try:
            value = metric.committed
        except Exception:  # noqa: BLE001 - some runners only report attempted values
            value = None
        if value is None:
            value = metric.attempted
        key = (metric.key.metric.namespace, metric.key.metric.name)
        counters[key] = counters.get(key, 0) + int(value or 0)
    return counters


def _boundaries(pipeline, result) -> list[dict] | None:
    """Sampled bytes per element of what crossed between fused stages (local runs only)."""
    if not hasattr(result, "monitoring_infos"):
        return None
    try:
        from pipelines.boundaries import boundary_sizes

        return boundary_sizes(pipeline.to_runner_api(), list(result.monitoring_infos()))
    except Exception as exc:  # noqa: BLE001 - a diagnostic must never fail the run
        logging.warning("could not measure stage boundaries: %r", exc)
        return None


def _match(pattern: str) -> list[str]:
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _open_read(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def run_job(
    pipeline_name: str,
    argv: list[str] | None,
    options,
    build: Callable[[beam.Pipeline], None],
    output_dir: str,
    links: Iterable[tuple[str, str]] = (),
    outputs: dict[str, str] | None = None,
    extra: dict | None = None,
    resume: ResumeOptions | None = None,
    owned: Iterable[str] = (),
) -> dict:
    """Build the graph with `build(pipeline)`, run it to the end, write manifest.json + report.md.

    Before running, the output folder is checked (pipelines.outputs: empty, an earlier
    run of this pipeline, or --overwrite) and an earlier run's files are removed: the
    manifest, reports, rejects and whatever the `owned` patterns (regular expressions
    over paths relative to output_dir) match; its saved work is kept and reused.
    With --dry_run (e.g. DataflowRunner building the job request without submitting)
    nothing is read or written and {"dry_run": True, "job": ...} is returned; with
    --no-wait it returns {"submitted": True, ...} as soon as the runner has the job.
    Raises UnbalancedRunError (after writing the manifest) when counts do not add up.
    """
    started = _now()
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = resume or ResumeOptions(output_dir)
    dry_run = bool(options.view_as(TestOptions).dry_run)
    if not dry_run:
        prepare_output(
            output_dir, pipeline_name, owned, overwrite=resume.overwrite, restart=resume.restart
        )
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    with temporary_files_under(output_dir) if not dry_run else contextlib.nullcontext():
        result = pipeline.run()
        if dry_run:
            return {"dry_run": True, "job": getattr(result, "job", None)}
        if not resume.wait or os.environ.get(NO_WAIT_ENV) == "1":
            logging.info("submitted; not waiting, so no manifest will be written")
            return {"submitted": True, "state": str(result.state)}
        result.wait_until_finish()
    counters = collect_counters(result)
    manifest = build_manifest(
        pipeline_name,
        argv,
        stage_counts(counters),
        links=links,
        outputs=outputs,
        started=started,
        finished=_now(),
        extra=extra,
    )
    manifest["resume"] = resume_counts(counters)
    boundaries = _boundaries(pipeline, result)
    if boundaries is not None:
        manifest["boundaries"] = boundaries
    manifest_path = join(output_dir, MANIFEST_NAME)
    report_path = join(output_dir, REPORT_NAME)
    html_path = join(output_dir, HTML_REPORT_NAME)
    manifest["outputs"].update(
        {"manifest": manifest_path, "report": report_path, "report_html": html_path}
    )
    write_bytes(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    write_bytes(report_path, render_markdown(manifest).encode())
    write_html_report(
        manifest,
        output_dir,
        read_bytes=read_bytes,
        match=_match,
        write_bytes=write_bytes,
        open_read=_open_read,
    )
    logging.info("manifest: %s", manifest_path)
    print(f"manifest: {manifest_path}\nreport: {html_path}")
    check_manifest(manifest)
    forget_open_parts()
    clear_work(output_dir, keep_checkpoints=resume.keep_work)
    return manifest


WORKER_NOISE = ("No semi_persistent_directory found",)


def _drop_worker_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in WORKER_NOISE)


def cli_main(run: Callable[[list[str] | None], dict]) -> None:
    """Entry point for `python -m pipelines.X`: quiet Beam logs, clear errors, exit codes.

    Exit 2: bad input or setup (a pattern that matches nothing, no Tesseract);
    3: the run's accounting failed.
    """
    from corpusio.accounting import UnbalancedRunError
    from pipelines.outputs import OutputNotEmpty
    from pipelines.sources import NoInputError
    from transcription.ocr import TesseractUnavailable

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # Worker logs reach us through this logger; one warning of every local worker is noise.
    logging.getLogger("apache_beam.runners.portability.local_job_service").addFilter(
        _drop_worker_noise
    )
    try:
        run(None)
    except (NoInputError, TesseractUnavailable, OutputNotEmpty) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except UnbalancedRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3)
