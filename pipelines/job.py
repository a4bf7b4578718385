"""Run a pipeline graph, then write its manifest and report and check the accounting.

Counts come from Beam's metrics (committed values where the runner has them),
so they are the same whether the job ran locally or on Dataflow.
"""

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from corpusio.accounting import build_manifest, check_manifest, stage_counts
from corpusio.report import render_markdown
from pipelines.files import join, write_bytes

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.md"


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


def run_job(
    pipeline_name: str,
    argv: list[str] | None,
    options,
    build: Callable[[beam.Pipeline], None],
    output_dir: str,
    links: Iterable[tuple[str, str]] = (),
    outputs: dict[str, str] | None = None,
    extra: dict | None = None,
) -> dict:
    """Build the graph with `build(pipeline)`, run it to the end, write manifest.json + report.md.

    Raises UnbalancedRunError (after writing the manifest) when counts do not add up.
    """
    started = _now()
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    manifest = build_manifest(
        pipeline_name,
        argv,
        stage_counts(collect_counters(result)),
        links=links,
        outputs=outputs,
        started=started,
        finished=_now(),
        extra=extra,
    )
    manifest_path = join(output_dir, MANIFEST_NAME)
    report_path = join(output_dir, REPORT_NAME)
    manifest["outputs"].update({"manifest": manifest_path, "report": report_path})
    write_bytes(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    write_bytes(report_path, render_markdown(manifest).encode())
    logging.info("manifest: %s", manifest_path)
    print(f"manifest: {manifest_path}\nreport: {report_path}")
    check_manifest(manifest)
    return manifest


def cli_main(run: Callable[[list[str] | None], dict]) -> None:
    """Entry point for `python -m pipelines.X`: quiet Beam logs, clear errors, exit codes.

    Exit 2: bad input or setup (a pattern that matches nothing, no Tesseract);
    3: the run's accounting failed.
    """
    from corpusio.accounting import UnbalancedRunError
    from docmatix.ocr import TesseractUnavailable
    from pipelines.sources import NoInputError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        run(None)
    except (NoInputError, TesseractUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except UnbalancedRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3)
