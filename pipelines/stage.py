"""A counted stage: a plain domain function run as a DoFn with a rejects output.

The domain function never sees Beam. For a one-to-one stage it takes an
element and returns an output or a `Reject`; for a fan-out stage it yields any
number of outputs and rejects. Either way every outcome is counted (in, out,
rejected by reason, plus optional stats), and an exception becomes a reject
with reason `error` instead of killing the run.

With a checkpoint folder, each element's results are saved as they are made, so
a rerun after an interruption only computes what is missing. Each worker also
prints its counts every VLM_CORPUS_PROGRESS_S seconds (30; 0 turns it off).
"""

import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from corpusio.accounting import (
    IN,
    OUT,
    REASON_PREFIX,
    REJECTED,
    SOURCES,
    STAT_PREFIX,
    Reject,
    stage_namespace,
)
from pipelines.files import read_bytes, write_bytes
from pipelines.resume import COMPUTED, REUSED, checkpoint_path, resume_namespace

OUTPUT = "out"
REJECTS = "rejects"
ERROR_REASON = "error"
PROGRESS_EVERY_S = float(os.environ.get("VLM_CORPUS_PROGRESS_S", "30"))


def default_id(element: Any) -> str:
    """A readable id for an element in a reject record."""
    for attr in ("id", "key", "path"):
        value = getattr(element, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(element, Mapping):
        for name in ("id", "__key__", "key", "path", "url"):
            if isinstance(element.get(name), str):
                return element[name]
    if isinstance(element, tuple) and element and isinstance(element[0], str):
        return element[0]
    return repr(element)[:200]


class _Progress:
    """Periodic counts on stderr, so a long local run shows it is moving (one line per stage)."""

    def __init__(self, stage: str, every_s: float):
        self._stage = stage
        self._every_s = every_s
        self._started = self._last = time.monotonic()
        self.counts = {IN: 0, OUT: 0, REJECTED: 0}

    def add(self, name: str) -> None:
        self.counts[name] += 1
        now = time.monotonic()
        if self._every_s and now - self._last >= self._every_s:
            self._last = now
            rate = self.counts[IN] / max(now - self._started, 1e-9)
            c = self.counts
            print(
                f"progress {self._stage}: {c[IN]} in, {c[OUT]} out, {c[REJECTED]} rejected"
                f" ({rate:.1f}/s, worker {os.getpid()})",
                file=sys.stderr,
                flush=True,
            )


class _CountedFn(beam.DoFn):
    def __init__(self, stage, fn, fanout, stats, id_of, checkpoint):
        self._stage = stage
        self._fn = fn
        self._fanout = fanout
        self._stats = stats
        self._id_of = id_of
        self._checkpoint = checkpoint
        self._counters = {}
        self._progress = None

    def setup(self):
        self._progress = _Progress(self._stage, PROGRESS_EVERY_S)

    def _count(self, name: str, value: int = 1, namespace: str | None = None) -> None:
        key = (namespace, name)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Metrics.counter(
                namespace or stage_namespace(self._stage), name
            )
        counter.inc(value)
        if namespace is None and name in (IN, OUT, REJECTED) and self._progress is not None:
            self._progress.add(name)

    def _reject(self, reject: Reject):
        if not reject.stage:
            reject = replace(reject, stage=self._stage)
        self._count(REJECTED)
        self._count(REASON_PREFIX + reject.reason)
        return beam.pvalue.TaggedOutput(REJECTS, reject)

    def _outcome(self, result):
        if self._fanout:
            self._count(IN)
        if isinstance(result, Reject):
            return self._reject(result)
        self._count(OUT)
        if self._stats is not None:
            for name, value in self._stats(result).items():
                if value:
                    self._count(STAT_PREFIX + name, int(value))
        return result

    def _results(self, element) -> Iterator[Any]:
        """The domain function's results; an exception ends them with an `error` reject."""
        try:
            if self._fanout:
                yield from self._fn(element)
            else:
                yield self._fn(element)
        except Exception as exc:  # noqa: BLE001 - one bad input must not stop the run
            logging.warning("stage %s failed on %s: %r", self._stage, self._id_of(element), exc)
            detail = f"{type(exc).__name__}: {exc}"[:1000]
            yield Reject(self._id_of(element), ERROR_REASON, detail)

    def _resumed(self, element, results: Iterator[Any]) -> list:
        """Results saved by an earlier run for this element, else computed now and saved."""
        path = checkpoint_path(self._checkpoint, self._id_of(element))
        if FileSystems.exists(path):
            try:
                saved = pickle.loads(read_bytes(path))
            except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is redone
                logging.warning("checkpoint %s unreadable (%r); computing again", path, exc)
            else:
                self._count(REUSED, namespace=resume_namespace(self._stage))
                return saved
        computed = list(results)
        write_bytes(path, pickle.dumps(computed, protocol=pickle.HIGHEST_PROTOCOL))
        self._count(COMPUTED, namespace=resume_namespace(self._stage))
        return computed

    def process(self, element):
        results = self._results(element)
        if self._checkpoint:
            results = self._resumed(element, results)
        self._count(SOURCES if self._fanout else IN)
        for result in results:
            yield self._outcome(result)


class Stage(beam.PTransform):
    """Apply a domain function as a counted stage; returns (outputs, rejects).

    fn: element -> output | Reject (or, with fanout=True, element -> iterable of them).
    stats: output -> {name: int}, summed into the manifest's `stats` for the stage.
    checkpoint: a folder (pipelines.resume.stage_checkpoint); each element's results are
      saved there once computed, and a rerun replays them (counted the same) instead of
      computing again. `id_of` must then be unique per element.
    """

    def __init__(
        self,
        stage: str,
        fn: Callable[[Any], Any] | Callable[[Any], Iterable[Any]],
        *,
        fanout: bool = False,
        stats: Callable[[Any], Mapping[str, int]] | None = None,
        id_of: Callable[[Any], str] = default_id,
        checkpoint: str | None = None,
    ):
        super().__init__(label=None)
        stage_namespace(stage)  # validates the name early, at graph construction
        self._stage = stage
        self._dofn = _CountedFn(stage, fn, fanout, stats, id_of, checkpoint)

    def expand(self, pcoll):
        results = pcoll | beam.ParDo(self._dofn).with_outputs(REJECTS, main=OUTPUT)
        return results[OUTPUT], results[REJECTS]
