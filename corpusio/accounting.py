"""Rejects, per-stage counts and the run manifest: every input ends in an output or a reject.

Stages count with counters named by the helpers below (namespace
`stage:<name>`). For each stage, `in == out + rejected` must hold: an input
either produced its output or a `Reject` with a reason. A stage that expands
one input into many (a WARC file into records) counts the units it emits:
each unit found is one `in` and ends as one `out` or one reject, and the
inputs it opened are counted as `sources`.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from corpusio.names import printable

STAGE_NAMESPACE_PREFIX = "stage:"
IN, OUT, REJECTED, SOURCES = "in", "out", "rejected", "sources"
REASON_PREFIX = "rejected:"
STAT_PREFIX = "stat:"
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Reject:
    """Why one input item did not reach the output.

    `reason` is a short snake_case code (counted in the manifest); `detail` is
    free text for a person (an exception message, a measured value).
    """

    id: str
    reason: str
    detail: str = ""
    stage: str = ""

    def __post_init__(self):
        if not _CODE.match(self.reason):
            raise ValueError(f"reject reason must be a snake_case code, got {self.reason!r}")
        # an id is often a file name, and a name may hold bytes that are not UTF-8
        object.__setattr__(self, "id", printable(self.id))
        object.__setattr__(self, "detail", printable(self.detail))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def stage_namespace(stage: str) -> str:
    if not _CODE.match(stage):
        raise ValueError(f"stage name must be a snake_case code, got {stage!r}")
    return STAGE_NAMESPACE_PREFIX + stage


@dataclass
class StageCounts:
    """Counts for one stage, rebuilt from its counters."""

    inputs: int = 0
    outputs: int = 0
    rejected: int = 0
    sources: int | None = None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    def problems(self, stage: str) -> list[str]:
        found = []
        if self.inputs != self.outputs + self.rejected:
            found.append(
                f"stage {stage!r}: in ({self.inputs}) != out ({self.outputs})"
                f" + rejected ({self.rejected})"
            )
        if sum(self.rejected_by_reason.values()) != self.rejected:
            found.append(f"stage {stage!r}: rejects by reason do not add up to {self.rejected}")
        return found

    def to_dict(self) -> dict:
        d = {"in": self.inputs, "out": self.outputs, "rejected": self.rejected}
        if self.sources is not None:
            d["sources"] = self.sources
        d["rejected_by_reason"] = dict(sorted(self.rejected_by_reason.items()))
        d["stats"] = dict(sorted(self.stats.items()))
        return d


def stage_counts(counters: Mapping[tuple[str, str], int]) -> dict[str, StageCounts]:
    """Group counters {(namespace, name): value} into StageCounts per stage."""
    stages: dict[str, StageCounts] = {}
    for (namespace, name), value in counters.items():
        if not namespace.startswith(STAGE_NAMESPACE_PREFIX):
            continue
        counts = stages.setdefault(namespace[len(STAGE_NAMESPACE_PREFIX) :], StageCounts())
        if name == IN:
            counts.inputs += value
        elif name == OUT:
            counts.outputs += value
        elif name == REJECTED:
            counts.rejected += value
        elif name == SOURCES:
            counts.sources = (counts.sources or 0) + value
        elif name.startswith(REASON_PREFIX):
            reason = name[len(REASON_PREFIX) :]
            counts.rejected_by_reason[reason] = counts.rejected_by_reason.get(reason, 0) + value
        elif name.startswith(STAT_PREFIX):
            stat = name[len(STAT_PREFIX) :]
            counts.stats[stat] = counts.stats.get(stat, 0) + value
    return stages


def link_problems(stages: Mapping[str, StageCounts], links: Iterable[tuple[str, str]]) -> list[str]:
    """Check that what one stage emitted is what the next received: (upstream, downstream).

    The upstream may name a stat, "stage/stat", when a stage's outputs fan out
    into another unit (documents into chunks), and may add and subtract terms
    ("read-read/warc_files+read_warc/pdf_records") when items take two paths.
    """
    found = []
    for up, down in links:
        emitted = 0
        for sign, term in re.findall(r"([+-]?)([^+-]+)", up):
            stage, _, stat = term.partition("/")
            counts = stages.get(stage, StageCounts())
            value = counts.stats.get(stat, 0) if stat else counts.outputs
            emitted += -value if sign == "-" else value
        received = stages.get(down, StageCounts()).inputs
        if emitted != received:
            found.append(f"stage {down!r} received {received} items but {up!r} emitted {emitted}")
    return found


class UnbalancedRunError(RuntimeError):
    """A run lost or invented items: its counts do not add up."""


def build_manifest(
    pipeline: str,
    argv: list[str],
    stages: Mapping[str, StageCounts],
    links: Iterable[tuple[str, str]] = (),
    outputs: Mapping[str, str] | None = None,
    started: str = "",
    finished: str = "",
    extra: Mapping | None = None,
) -> dict:
    """The manifest of one run: counts per stage, the balance check's verdict, where outputs are."""
    links = [tuple(link) for link in links]
    problems = [p for name, c in sorted(stages.items()) for p in c.problems(name)]
    problems += link_problems(stages, links)
    manifest = {
        "pipeline": pipeline,
        "argv": list(argv),
        "started": started,
        "finished": finished,
        "stages": {name: stages[name].to_dict() for name in sorted(stages)},
        "links": [list(link) for link in links],
        "balanced": not problems,
        "problems": problems,
        "outputs": dict(outputs or {}),
    }
    if extra:
        manifest.update(extra)
    return manifest


def check_manifest(manifest: Mapping) -> None:
    """Raise UnbalancedRunError when the manifest's counts do not add up."""
    if not manifest["balanced"]:
        raise UnbalancedRunError("run accounting failed:\n  " + "\n  ".join(manifest["problems"]))
