"""Samples the loader cannot use: the exception that names why, and the counts by reason."""

from collections import Counter


class SkipSample(Exception):
    """A sample that cannot be used; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class SkipCounter:
    """Skipped samples by reason; workers ship their counts to the main process in batches."""

    def __init__(self):
        self.counts = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    def update(self, counts: dict) -> None:
        self.counts.update(counts)

    def drain(self) -> dict:
        """Counts since the last drain, reset: what one batch reports."""
        counts, self.counts = dict(self.counts), Counter()
        return counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())
