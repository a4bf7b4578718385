"""A counted stage: a plain domain function run as a DoFn with a rejects output.

The domain function never sees Beam. For a one-to-one stage it takes an
element and returns an output or a `Reject`; for a fan-out stage it yields any
number of outputs and rejects. Either way every outcome is counted (in, out,
rejected by reason, plus optional stats), and an exception becomes a reject
with reason `error` instead of killing the run.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
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

OUTPUT = "out"
REJECTS = "rejects"
ERROR_REASON = "error"


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


class _CountedFn(beam.DoFn):
    def __init__(self, stage, fn, fanout, stats, id_of):
        self._stage = stage
        self._fn = fn
        self._fanout = fanout
        self._stats = stats
        self._id_of = id_of
        self._counters = {}

    def _count(self, name: str, value: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(stage_namespace(self._stage), name)
        counter.inc(value)

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

    def _error(self, element, exc: Exception):
        logging.warning("stage %s failed on %s: %r", self._stage, self._id_of(element), exc)
        if self._fanout:
            self._count(IN)
        detail = f"{type(exc).__name__}: {exc}"[:1000]
        return self._reject(Reject(self._id_of(element), ERROR_REASON, detail))

    def process(self, element):
        if not self._fanout:
            self._count(IN)
            try:
                result = self._fn(element)
            except Exception as exc:  # noqa: BLE001 - one bad input must not stop the run
                yield self._error(element, exc)
                return
            yield self._outcome(result)
            return
        self._count(SOURCES)
        try:
            for result in self._fn(element):
                yield self._outcome(result)
        except Exception as exc:  # noqa: BLE001
            yield self._error(element, exc)


class Stage(beam.PTransform):
    """Apply a domain function as a counted stage; returns (outputs, rejects).

    fn: element -> output | Reject (or, with fanout=True, element -> iterable of them).
    stats: output -> {name: int}, summed into the manifest's `stats` for the stage.
    """

    def __init__(
        self,
        stage: str,
        fn: Callable[[Any], Any] | Callable[[Any], Iterable[Any]],
        *,
        fanout: bool = False,
        stats: Callable[[Any], Mapping[str, int]] | None = None,
        id_of: Callable[[Any], str] = default_id,
    ):
        super().__init__(label=None)
        stage_namespace(stage)  # validates the name early, at graph construction
        self._stage = stage
        self._dofn = _CountedFn(stage, fn, fanout, stats, id_of)

    def expand(self, pcoll):
        results = pcoll | beam.ParDo(self._dofn).with_outputs(REJECTS, main=OUTPUT)
        return results[OUTPUT], results[REJECTS]
