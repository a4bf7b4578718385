"""Resuming an interrupted run: per-element checkpoints and clearing stale outputs.

A pipeline's costly stages (transcription, extraction, decontamination) save each
element's results under OUTPUT/_work/<stage>-<fingerprint>/ as soon as they are
made. A rerun with the same output folder replays those results, counted exactly
as before, and computes only the missing ones; everything after them (shard
planning, writing) is deterministic and runs again in full, so the rerun ends
with the same outputs and manifest as one uninterrupted run.

The fingerprint covers the stage's options, so a rerun with different options
does not reuse results made under the old ones. The work folder is removed once
a run has finished and passed its checks (unless --keep-work).
"""

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from pipelines.files import join

WORK_DIR = "_work"
RESUME_NAMESPACE_PREFIX = "resume:"
REUSED, COMPUTED = "reused", "computed"
# What every run writes besides its own outputs; a rerun clears these first.
RUN_FILES = ("manifest.json", "report.md", "report.html", "report/*", "rejects-*", "beam-temp-*")


@dataclass(frozen=True)
class ResumeOptions:
    """Where a run keeps its work and what it does with work left by an earlier run."""

    output: str
    restart: bool = False  # drop an earlier run's work and compute everything
    keep_work: bool = False  # keep the work folder after a successful run
    wait: bool = True  # False: return once the job is submitted (no manifest, no cleanup)

    @property
    def work_dir(self) -> str:
        return join(self.output, WORK_DIR)

    def checkpoint(self, stage: str, *options) -> str:
        """The checkpoint folder of one stage run with these options."""
        return join(self.work_dir, f"{stage}-{fingerprint(*options)}")


def resume_options(args) -> ResumeOptions:
    """ResumeOptions from parsed pipeline flags (--output, --restart, --keep-work)."""
    return ResumeOptions(
        args.output, restart=args.restart, keep_work=args.keep_work, wait=not args.no_wait
    )


def fingerprint(*parts) -> str:
    """A short stable hash of option values (their repr), naming a checkpoint folder."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


def checkpoint_path(folder: str, element_id: str) -> str:
    digest = hashlib.sha1(element_id.encode("utf-8", "surrogatepass")).hexdigest()
    return join(folder, digest[:2], digest + ".pkl")


def resume_namespace(stage: str) -> str:
    return RESUME_NAMESPACE_PREFIX + stage


def resume_counts(counters: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{stage: {"reused": n, "computed": m}} from the run's counters."""
    out: dict[str, dict[str, int]] = {}
    for (namespace, name), value in sorted(counters.items()):
        if namespace.startswith(RESUME_NAMESPACE_PREFIX):
            stage = namespace[len(RESUME_NAMESPACE_PREFIX) :]
            out.setdefault(stage, {REUSED: 0, COMPUTED: 0})[name] = value
    return out


def delete_matching(patterns: Iterable[str]) -> int:
    """Delete whatever the patterns match (files or folders); returns how many paths went."""
    paths = []
    for result in FileSystems.match(list(patterns)):
        paths += [m.path for m in result.metadata_list]
    if paths:
        FileSystems.delete(sorted(set(paths)))
    return len(paths)


def prepare_output(resume: ResumeOptions, stale: Iterable[str]) -> None:
    """Before a run: remove an earlier run's outputs (and its work too with --restart).

    Outputs are rewritten in full by every run, so nothing stale (a shard that the
    new plan no longer has, a half-written temp folder) can survive next to them.
    """
    patterns = [join(resume.output, p) for p in (*RUN_FILES, *stale)]
    if resume.restart:
        patterns.append(resume.work_dir)
    removed = delete_matching(patterns)
    if removed:
        logging.info("cleared %d outputs of an earlier run in %s", removed, resume.output)


def finish_output(resume: ResumeOptions) -> None:
    """After a successful run: the work folder is no longer needed."""
    if not resume.keep_work:
        delete_matching([resume.work_dir])
