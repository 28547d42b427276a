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


def one_process_steps(n: int, seed: int, total: int, start: int, per_step: int) -> list[list[int]]:
    one = list(run_order(n, seed, total, start))
    return [one[i:i + per_step] for i in range(0, len(one), per_step)]


# Record lengths of the balanced deal's tests: uneven, so that the deal has something to even.
LENGTHS = [5, 90, 12, 40, 7, 64, 3]


def length_cost(batch: list[int]) -> int:
    from finetune.distributed import record_of

    return sum(LENGTHS[record_of(i)] for i in batch)


def dealt_steps(n, seed, total, start, batch, accum, world,
                cost=None) -> tuple[list[list[int]], list]:
    """Each step's samples put back together from what every rank's data loader yields, in
    the Trainer's order (``per_accum`` micro-batches a step, fewer in a short last step)."""
    from finetune.distributed import interleave, split_step
    from finetune.training import make_batch_sampler

    per_step = batch * accum
    per_batch, per_accum = split_step(batch, accum, world)
    samplers = [make_batch_sampler(n, seed, total, start, per_step, per_batch, world, rank, cost)
                for rank in range(world)]
    shares = [list(zip(s.places, list(s), strict=True)) for s in samplers]
    steps = -(-(total - start) // per_step)
    per_rank = [[s[k * per_accum:(k + 1) * per_accum] for s in shares] for k in range(steps)]
    assert all(len(batches) == per_accum or k == steps - 1 for k, step in enumerate(per_rank)
               for batches in step)  # a short last step only may hold fewer
    return [interleave(step) for step in per_rank], per_rank


@pytest.mark.parametrize(("batch", "accum", "world"),
                         [(2, 1, 2), (1, 4, 2), (2, 2, 2), (4, 2, 4), (3, 4, 4), (2, 3, 1),
                          (3, 4, 2), (1, 8, 2), (2, 4, 2), (5, 2, 2)])
@pytest.mark.parametrize("resume_step", [0, 3])
@pytest.mark.parametrize("short", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("balanced", [False, True])
def test_each_step_takes_the_one_process_samples_on_any_number_of_processes(
        batch, accum, world, resume_step, short, balanced):
    """Every step, the short last one included (``short`` samples fewer), holds the samples of
    the one-process step in its order, and every rank runs at least one micro-batch in it;
    the places of a step's per-process batches are each place once, whether they are dealt
    round-robin or by tokens."""
    from finetune.distributed import is_ghost

    n, seed, per_step, steps = 7, 11, batch * accum, 6
    total = steps * per_step - min(short, per_step - 1)
    start = resume_step * per_step  # a bundle's cursor: the same for any number of processes
    got, per_rank = dealt_steps(n, seed, total, start, batch, accum, world,
                                length_cost if balanced else None)
    assert got == one_process_steps(n, seed, total, start, per_step)  # no sample lost or added
    for step in per_rank:
        assert all(len(batches) >= 1 for batches in step)  # DDP: no rank sits a step out
        places = sorted(place for batches in step for place, _ in batches)
        assert places == list(range(len(places)))
        ghosts = [b for batches in step for _, b in batches if any(is_ghost(i) for i in b)]
        assert all(len(b) == 1 for b in ghosts)  # a ghost is a micro-batch of its own


def test_the_balanced_deal_evens_the_tokens_and_keeps_each_ranks_count():
    """Which rank runs which per-process batch changes, not how many each runs; the largest
    share of tokens is never larger than round-robin's, and smaller where that one is uneven."""
    from finetune.distributed import deal

    lengths = [100, 1, 1, 1, 90, 2, 2, 2]  # per-process batches of 101, 2, 92 and 4 tokens
    step = list(range(8))

    def cost(batch: list[int]) -> int:
        return sum(lengths[i] for i in batch)

    even, plain = deal(step, 2, 2, cost), deal(step, 2, 2)
    assert plain == [[(0, [0, 1]), (2, [4, 5])], [(1, [2, 3]), (3, [6, 7])]]
    assert [[place for place, _ in share] for share in even] == [[0, 1], [2, 3]]
    loads = [[sum(cost(b) for _, b in share) for share in s] for s in (plain, even)]
    assert loads == [[193, 6], [103, 96]]
    # Three per-process batches over two ranks: 2 and 1, as round-robin gives them.
    assert [len(share) for share in deal([0, 1, 2, 3, 4, 5], 2, 2, cost)] == [2, 1]
    # Equal costs: the round-robin deal itself.
    assert deal(step, 2, 2, lambda batch: 1) == plain


def test_the_step_log_and_the_dropout_seeds_follow_the_places_not_the_ranks():
    """interleave orders a step's records by the places of their micro-batches, whichever
    rank ran them (the dropout seed of a micro-batch is its place: micro_batch_seed)."""
    from finetune.distributed import ghost, interleave

    assert interleave([[(0, [0, 1]), (3, [6, 7])], [(1, [2, 3]), (2, [4, 5])]]) == list(range(8))
    assert interleave([[(0, [7])], [(1, [ghost(7)])]]) == [7]


def test_a_last_step_shorter_than_the_processes_gives_the_idle_rank_a_ghost():
    from finetune.distributed import ghost, is_ghost, record_of, step_share

    assert step_share([7], 3, 2, 0) == [[7]]
    assert step_share([7], 3, 2, 1) == [[ghost(7)]]
    assert is_ghost(ghost(0)) and record_of(ghost(0)) == 0 and record_of(5) == 5
    # Fewer per-process batches than ranks: near-equal parts, none empty.
    assert [step_share([1, 2, 3], 3, 2, r) for r in range(2)] == [[[1, 2]], [[3]]]
    # A full step: per-process batches dealt round-robin.
    assert [step_share(list(range(8)), 2, 2, r) for r in range(2)] == [
        [[0, 1], [4, 5]], [[2, 3], [6, 7]]]


def test_a_ghost_item_trains_nothing():
    from finetune.distributed import ghost
    from finetune.training import EncodedDataset

    class Encoded:
        input_ids, labels = [5, 6, 7], [-100, 6, 7]

    data = EncodedDataset([Encoded()])
    assert data[0] == {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "record_index": 0}
    assert data[ghost(0)] == {"input_ids": [5, 6, 7], "labels": [-100] * 3, "record_index": -1}


def test_one_process_never_spreads_over_several_gpus():
    """What a host with two visible GPUs gives a process outside accelerate launch
    (``n_gpu`` 2: DataParallel, twice the per-device batch) is pinned back to one GPU."""
    from transformers import TrainingArguments

    from finetune.training import one_gpu_per_process

    args = TrainingArguments(output_dir="out", per_device_train_batch_size=3, use_cpu=True,
                             report_to="none")
    assert args.n_gpu == 0
    args._n_gpu = 2  # TrainingArguments._setup_devices: torch.cuda.device_count()
    assert args.train_batch_size == 6
    one_gpu_per_process(args)
    assert args.n_gpu == 1 and args.train_batch_size == 3


def test_a_step_that_cannot_be_divided_over_the_processes_is_refused():
    from finetune.distributed import split_step

    assert split_step(2, 4, 2) == (2, 2) and split_step(4, 1, 2) == (2, 1)
    with pytest.raises(ConfigError, match="--batch-size 3 x --grad-accum 1 does not divide over 2"):
        split_step(3, 1, 2)
