"""Stateless batch plans: the global batch of any step is a pure function of (seed, step).

That makes resuming exact (start at the saved step, nothing else to restore) and distributed training
equal to single-process training: every rank computes the same global batch and takes its own slice.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class IndexStream:
    """An endless stream over `items`: one seeded permutation per pass."""

    def __init__(self, items: np.ndarray, seed: tuple[int, ...]):
        self.items = np.asarray(items)
        self.seed = seed
        self._pass, self._order = -1, self.items

    def take(self, start: int, count: int) -> np.ndarray:
        positions = np.arange(start, start + count)
        return np.array([self._item(p) for p in positions], dtype=np.int64)

    def _item(self, position: int) -> int:
        pass_index, offset = divmod(position, len(self.items))
        if pass_index != self._pass:
            self._pass = pass_index
            self._order = self.items[np.random.default_rng([*self.seed, pass_index]).permutation(len(self.items))]
        return int(self._order[offset])


class TripletBatchPlan:
    """Global batches of triplet indices; `balanced` draws the three triplet types equally."""

    def __init__(self, items: np.ndarray, item_types: np.ndarray, batch_size: int, seed: int, balanced: bool = False):
        """`items` are dataset indices; `item_types` their triplet-type indices (used when balanced)."""
        items, item_types = np.asarray(items), np.asarray(item_types)
        self.batch_size = batch_size
        self.size = len(items)
        if balanced:
            kinds = np.unique(item_types)
            self.streams = [IndexStream(items[item_types == kind], (seed, int(kind))) for kind in kinds]
        else:
            self.streams = [IndexStream(items, (seed,))]
        counts = [batch_size // len(self.streams)] * len(self.streams)
        for extra in range(batch_size - sum(counts)):
            counts[extra] += 1
        self.counts = counts

    def global_batch(self, step: int) -> np.ndarray:
        return np.concatenate([stream.take(step * count, count) for stream, count in zip(self.streams, self.counts)])

    def epoch(self, step: int) -> float:
        """Passes over the dataset completed before `step`."""
        return step * self.batch_size / self.size


class StepBatchSampler(Sampler):
    """Yields this rank's slice of the global batches for steps [start_step, end_step)."""

    def __init__(self, plan: TripletBatchPlan, start_step: int, end_step: int, rank: int = 0, world_size: int = 1):
        if plan.batch_size % world_size:
            raise ValueError(f"batch size {plan.batch_size} is not divisible by {world_size} processes")
        self.plan, self.start_step, self.end_step = plan, start_step, end_step
        self.local = plan.batch_size // world_size
        self.offset = rank * self.local

    def __iter__(self):
        for step in range(self.start_step, self.end_step):
            batch = self.plan.global_batch(step)[self.offset : self.offset + self.local]
            first_position = step * self.plan.batch_size + self.offset
            yield [(int(index), first_position + j) for j, index in enumerate(batch)]

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)
