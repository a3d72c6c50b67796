"""The progress bar of a run: done, failed and remaining URLs, counting what earlier runs left behind."""

from __future__ import annotations

from tqdm import tqdm

from fec.data.download.outcomes import OK, UrlOutcome
from fec.data.download.plan import UrlJob


class Progress:
    """tqdm bar over all URLs with done / failed / remaining counts (disabled unless asked)."""

    def __init__(self, jobs: list[UrlJob], todo: list[UrlJob], records: dict[str, UrlOutcome], enabled: bool):
        pending = {job.url for job in todo}
        self.was_failed = {job.url for job in jobs if job.url in records and records[job.url].status != OK}
        self.done = sum(1 for job in jobs if job.url not in pending and job.url in records and records[job.url].status == OK)
        self.failed = len(self.was_failed)
        self.remaining = len(jobs) - self.done - self.failed
        self.bar = tqdm(total=len(jobs), initial=self.done + self.failed, unit="url", desc="download",
                        disable=not enabled, dynamic_ncols=True)
        self.show()

    def update(self, outcome: UrlOutcome) -> None:
        if outcome.url in self.was_failed:
            self.failed -= 1
            self.was_failed.discard(outcome.url)
        else:
            self.remaining -= 1
        if outcome.status == OK:
            self.done += 1
        else:
            self.failed += 1
            self.was_failed.add(outcome.url)
        self.show()

    def show(self) -> None:
        self.bar.n = self.done + self.failed
        self.bar.set_postfix(done=self.done, failed=self.failed, remaining=self.remaining)

    def close(self) -> None:
        self.bar.close()
