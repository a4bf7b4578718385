"""Resuming an interrupted run: where saved work lives and how reruns find it.

A pipeline's costly stages (transcription, WARC reading with extraction,
decontamination) save each element's results in part files under
OUTPUT/_work/<stage>-<fingerprint>/ as they are made (pipelines.stage). A rerun
with the same output folder replays those results, counted exactly as before,
and computes only the missing ones; everything after them (shard planning,
writing) is deterministic and runs again in full, so the rerun ends with the
same outputs and manifest as one uninterrupted run.

The fingerprint covers the stage's options, so a rerun with different options
does not reuse results made under the old ones. Payloads that only one run
needs go to OUTPUT/_work/spill/, which every run clears. The work folder is
removed once a run has finished and passed its checks (unless --keep-work).
"""

import hashlib
from dataclasses import dataclass

from pipelines.files import join
from pipelines.outputs import SPILL_DIR, WORK_DIR

RESUME_NAMESPACE_PREFIX = "resume:"
REUSED, COMPUTED = "reused", "computed"


@dataclass(frozen=True)
class ResumeOptions:
    """Where a run keeps its work and what it does with work left by an earlier run."""

    output: str
    restart: bool = False  # drop an earlier run's work and compute everything
    keep_work: bool = False  # keep the work folder after a successful run
    wait: bool = True  # False: return once the job is submitted (no manifest, no cleanup)
    overwrite: bool = False  # write into a folder that holds files of others

    @property
    def work_dir(self) -> str:
        return join(self.output, WORK_DIR)

    def checkpoint(self, stage: str, *options) -> str:
        """The checkpoint folder of one stage run with these options."""
        return join(self.work_dir, f"{stage}-{fingerprint(*options)}")

    def spill(self, name: str) -> str:
        """A folder for payloads this run writes once and reads back (cleared every run)."""
        return join(self.output, SPILL_DIR, name)


def resume_options(args) -> ResumeOptions:
    """ResumeOptions from parsed pipeline flags (--output, --restart, --keep-work ...)."""
    return ResumeOptions(
        args.output,
        restart=args.restart,
        keep_work=args.keep_work,
        wait=not args.no_wait,
        overwrite=args.overwrite,
    )


def fingerprint(*parts) -> str:
    """A short stable hash of option values (their repr), naming a checkpoint folder."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


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
