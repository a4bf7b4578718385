"""A counted stage: a plain domain function run as a DoFn with a rejects output.

The domain function never sees Beam. For a one-to-one stage it takes an
element and returns an output or a `Reject`; for a fan-out stage it yields any
number of outputs and rejects. Either way every outcome is counted (in, out,
rejected by reason, plus optional stats), and an exception becomes a reject
with reason `error` instead of killing the run.

With a checkpoint folder, each element's results are saved in part files as
they are made (pipelines.parts), so a rerun after an interruption only
computes what is missing; a part is finished every CHECKPOINT_EVERY elements
or CHECKPOINT_EVERY_S seconds, so a kill loses at most that much work per
worker, and the number of files grows with the input files, not their items. Each worker also
prints its counts every VLM_CORPUS_PROGRESS_S seconds (30; 0 turns it off).
"""

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import apache_beam as beam
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
from pipelines.parts import (
    PartWriter,
    StorageError,
    index_key,
    load,
    read_indexes,
    write_index,
)
from pipelines.resume import COMPUTED, REUSED, resume_namespace

OUTPUT = "out"
REJECTS = "rejects"
ERROR_REASON = "error"
PROGRESS_EVERY_S = float(os.environ.get("VLM_CORPUS_PROGRESS_S", "30"))
# A checkpoint part is finished (and its work safe from a kill) after this many
# elements or seconds, whichever comes first.
CHECKPOINT_EVERY = int(os.environ.get("VLM_CORPUS_CHECKPOINT_EVERY", "64"))
CHECKPOINT_EVERY_S = float(os.environ.get("VLM_CORPUS_CHECKPOINT_EVERY_S", "60"))

_saved_lock = threading.Lock()
_saved_by_run: dict[tuple[str, str], dict] = {}


def saved_results(folder: str, run: str) -> dict:
    """The work an earlier run saved in a checkpoint folder, read once per run and process."""
    with _saved_lock:
        saved = _saved_by_run.get((folder, run))
        if saved is None:
            saved = _saved_by_run[(folder, run)] = read_indexes(folder)
        return saved


def _result_id(result: Any) -> str:
    page = getattr(result, "page", None)  # a document's page (web)
    return getattr(page, "url", None) or default_id(result)


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
    def __init__(self, stage, fn, fanout, stats, id_of, checkpoint, store, spill):
        self._stage = stage
        self._fn = fn
        self._fanout = fanout
        self._stats = stats
        self._id_of = id_of
        self._checkpoint = checkpoint
        self._store = store
        self._spill = spill
        self._run = uuid.uuid4().hex  # saved work is looked up once per run and process
        self._counters = {}
        self._progress = None
        self._writer = None
        self._pending = []
        self._saved_in_part = 0

    def setup(self):
        self._progress = _Progress(self._stage, PROGRESS_EVERY_S)

    def start_bundle(self):
        folder = self._checkpoint or self._spill
        self._writer = PartWriter(folder) if folder else None
        self._pending = []
        self._saved_in_part = 0

    def finish_bundle(self):
        self._commit()

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

    def _stored(self, results: Iterator[Any]) -> Iterator[Any]:
        """Results with their payloads written to a part, when the stage stores them.

        An exception while making a result's small record rejects that result
        (`error`); one while writing the part (a full disk) stops the run.
        """
        if self._store is None:
            yield from results
            return
        for result in results:
            if isinstance(result, Reject):
                yield result
                continue
            try:
                yield self._store(result, self._writer.put)
            except StorageError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad result must not stop the run
                logging.warning("stage %s could not store %s: %r", self._stage, result, exc)
                detail = f"{type(exc).__name__}: {exc}"[:1000]
                yield Reject(_result_id(result), ERROR_REASON, detail)

    def _saved(self, element_id: str) -> list | None:
        """Results an earlier run saved for this element, or None."""
        try:
            stored = saved_results(self._checkpoint, self._run).get(index_key(element_id))
            if stored is None:
                return None
            return load(stored)
        except Exception as exc:  # noqa: BLE001 - a damaged part is computed again
            logging.warning("saved work for %s unreadable (%r); computing again", element_id, exc)
            return None

    def _save(self, element_id: str, results: list) -> None:
        self._pending.append((element_id, self._writer.put(results)))
        self._saved_in_part += 1
        if (
            self._saved_in_part >= CHECKPOINT_EVERY
            or time.monotonic() - self._writer.opened_at >= CHECKPOINT_EVERY_S
        ):
            self._commit()

    def _commit(self) -> None:
        """Close the current part; for a checkpoint, name the elements it holds."""
        if self._writer is None:
            return
        self._writer.close()
        by_part: dict[str, list] = {}
        for element_id, stored in self._pending:
            by_part.setdefault(stored.path, []).append((element_id, stored))
        for part, entries in by_part.items():
            write_index(part, entries)
        self._pending = []
        self._saved_in_part = 0

    def process(self, element):
        if self._checkpoint:
            element_id = self._id_of(element)
            results = self._saved(element_id)
            if results is not None:
                self._count(REUSED, namespace=resume_namespace(self._stage))
            else:
                results = list(self._stored(self._results(element)))
                self._save(element_id, results)
                self._count(COMPUTED, namespace=resume_namespace(self._stage))
        else:
            results = self._stored(self._results(element))
        self._count(SOURCES if self._fanout else IN)
        for result in results:
            yield self._outcome(result)


class Stage(beam.PTransform):
    """Apply a domain function as a counted stage; returns (outputs, rejects).

    fn: element -> output | Reject (or, with fanout=True, element -> iterable of them).
    stats: output -> {name: int}, summed into the manifest's `stats` for the stage.
    store: (output, put) -> a small record to pass on instead of the output; `put(obj)`
      writes a payload to a part file and returns its `pipelines.parts.Stored`
      reference, so payloads never travel through Beam past this stage. `stats`
      then sees the small record.
    checkpoint: a folder (ResumeOptions.checkpoint); each element's results are saved
      in part files there once computed, and a rerun replays them (counted the same)
      instead of computing again. `id_of` must then be unique per element.
    spill: where `store` writes when the stage keeps no checkpoint (ResumeOptions.spill).
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
        store: Callable[[Any, Callable[[Any], Any]], Any] | None = None,
        spill: str | None = None,
    ):
        super().__init__(label=None)
        stage_namespace(stage)  # validates the name early, at graph construction
        if store is not None and not (checkpoint or spill):
            raise ValueError(f"stage {stage}: store needs a checkpoint or a spill folder")
        self._stage = stage
        self._dofn = _CountedFn(stage, fn, fanout, stats, id_of, checkpoint, store, spill)

    def expand(self, pcoll):
        results = pcoll | beam.ParDo(self._dofn).with_outputs(REJECTS, main=OUTPUT)
        return results[OUTPUT], results[REJECTS]
