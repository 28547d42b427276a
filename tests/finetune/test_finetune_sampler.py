"""The resumable sample order, the LR schedule as a function of the step, budgets."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from finetune.config import TrainConfig, parse_budget
from finetune.sampler import consumed_at, cursor_at, epoch_order, run_order, total_steps
from finetune.training import schedule_lambda, should_hand_off


def test_epoch_order_is_a_seeded_permutation_that_changes_per_epoch():
    first = epoch_order(50, 7, 0)
    assert sorted(first) == list(range(50))
    assert epoch_order(50, 7, 0) == first
    assert epoch_order(50, 7, 1) != first
    assert epoch_order(50, 8, 0) != first
    # Fixed across machines and Python versions: random.Random with an integer seed.
    assert epoch_order(5, 0, 0) == (2, 1, 0, 4, 3)
    assert epoch_order(5, 0, 1) == (2, 3, 4, 0, 1)


@pytest.mark.parametrize("start", [0, 1, 7, 10, 13, 29])
def test_a_run_resumed_at_any_cursor_continues_the_same_order(start):
    whole = list(run_order(10, 3, 30))
    assert list(run_order(10, 3, 30, start)) == whole[start:]
    cursor = cursor_at(start, 10)
    assert (cursor.epoch, cursor.index) == divmod(start, 10)
    assert consumed_at(cursor, 10) == start


def test_total_steps_rounds_up_and_respects_the_cap():
    assert total_steps(10, 4) == 3
    assert total_steps(10, 4, max_steps=2) == 2


def test_schedule_is_a_function_of_the_global_step():
    config = TrainConfig(warmup_ratio=0.1, scheduler="cosine")
    lam = schedule_lambda(config, 100)
    values = [lam(i) for i in range(100)]
    assert values[0] > 0  # warm-up never applies a zero learning rate
    assert max(values) == pytest.approx(1.0)
    assert values[-1] < 0.01
    assert schedule_lambda(config, 100)(57) == values[57]  # same value in any session


@pytest.mark.parametrize("text, seconds", [("9h", 32400), ("1h30m", 5400), ("45m", 2700),
                                           ("90s", 90), ("2", 7200), ("0.5h", 1800)])
def test_parse_budget(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "9x", "-1", "0h", "9h soon"])
def test_parse_budget_rejects_nonsense(text):
    with pytest.raises(ConfigError, match="budget"):
        parse_budget(text)


def test_handoff_margin_comes_from_the_slowest_step_and_write():
    assert not should_hand_off(100, 1000, slowest_step_s=10, slowest_save_s=5)
    assert should_hand_off(975, 1000, slowest_step_s=10, slowest_save_s=5)  # 975+20+10 >= 1000
    assert not should_hand_off(965, 1000, slowest_step_s=10, slowest_save_s=2)
    assert should_hand_off(965, 1000, slowest_step_s=10, slowest_save_s=None)  # 10 s assumed


# -- several processes (accelerate launch): the step stays the one-process step -------------


def rank_batches(sampler, batch: int, world: int, rank: int) -> list[list[int]]:
    """What accelerate's prepared DataLoader hands process ``rank``: the engine's own sharding."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    return list(BatchSamplerShard(BatchSampler(sampler, batch, drop_last=False), world, rank,
                                  split_batches=False, even_batches=True))


@pytest.mark.parametrize(("batch", "accum", "world"),
                         [(2, 1, 2), (1, 4, 2), (2, 2, 2), (4, 2, 4), (3, 4, 4), (2, 3, 1)])
@pytest.mark.parametrize("resume_step", [0, 3])
def test_each_step_takes_the_one_process_samples_on_any_number_of_processes(
        batch, accum, world, resume_step):
    from finetune.distributed import interleave, split_step
    from finetune.training import make_sampler

    n, seed, per_step, steps = 7, 11, batch * accum, 6
    total = steps * per_step
    start = resume_step * per_step  # a bundle's cursor: the same for any number of processes
    one = list(run_order(n, seed, total, start))
    expected = [one[i:i + per_step] for i in range(0, len(one), per_step)]
    per_batch, per_accum = split_step(batch, accum, world)
    shares = [rank_batches(make_sampler(n, seed, total, start), per_batch, world, rank)
              for rank in range(world)]
    got = [interleave([s[k * per_accum:(k + 1) * per_accum] for s in shares])
           for k in range(steps - resume_step)]
    assert got == expected
    ranks_of_step = [[i for b in s[:per_accum] for i in b] for s in shares]
    assert sum(len(r) for r in ranks_of_step) == per_step  # no sample twice, none left out


def test_a_step_that_cannot_be_divided_over_the_processes_is_refused():
    from finetune.distributed import split_step

    assert split_step(2, 4, 2) == (2, 2) and split_step(4, 1, 2) == (2, 1)
    with pytest.raises(ConfigError, match="--batch-size 3 x --grad-accum 1 does not divide over 2"):
        split_step(3, 1, 2)
