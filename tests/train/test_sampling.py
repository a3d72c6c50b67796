from __future__ import annotations

import numpy as np

from fec.train.sampling import StepBatchSampler, TripletBatchPlan


def test_global_batch_is_a_function_of_seed_and_step():
    plan_a = TripletBatchPlan(np.arange(50), np.zeros(50), batch_size=8, seed=3)
    plan_b = TripletBatchPlan(np.arange(50), np.zeros(50), batch_size=8, seed=3)
    later_first = [plan_b.global_batch(step).tolist() for step in (7, 2, 0)]
    assert later_first == [plan_a.global_batch(step).tolist() for step in (7, 2, 0)]
    assert plan_a.global_batch(0).tolist() != TripletBatchPlan(np.arange(50), np.zeros(50), 8, seed=4).global_batch(0).tolist()


def test_each_pass_visits_every_item_once():
    plan = TripletBatchPlan(np.arange(10, 40), np.zeros(30), batch_size=10, seed=0)
    first_pass = np.concatenate([plan.global_batch(step) for step in range(3)])
    assert sorted(first_pass.tolist()) == list(range(10, 40))
    assert plan.epoch(3) == 1.0


def test_balanced_batches_draw_types_equally():
    types = np.array([0] * 90 + [1] * 6 + [2] * 4)
    plan = TripletBatchPlan(np.arange(100), types, batch_size=9, seed=0, balanced=True)
    for step in range(5):
        assert np.bincount(types[plan.global_batch(step)], minlength=3).tolist() == [3, 3, 3]


def test_ranks_take_disjoint_slices_that_make_up_the_global_batch():
    plan = TripletBatchPlan(np.arange(64), np.zeros(64), batch_size=8, seed=1)
    shards = [list(StepBatchSampler(plan, 2, 4, rank, 2)) for rank in (0, 1)]
    for step_index, step in enumerate((2, 3)):
        merged = [index for rank in (0, 1) for index, _ in shards[rank][step_index]]
        assert merged == plan.global_batch(step).tolist()
    positions = [position for rank in (0, 1) for batch in shards[rank] for _, position in batch]
    assert sorted(positions) == list(range(16, 32))
