"""The same run on one process and on two (accelerate launch, DDP over gloo on this CPU),
compared step by step: the records of every step (same records, same order), the learning
rate, the loss (within 1%) and the tokens (counted on every rank).

A tiny random Mistral keeps each run to seconds. The cases are those that a run with one
accumulation step per rank could not show: 2 and 4 accumulation steps per rank, an odd batch
size, a short last step (fewer samples than processes: a ghost micro-batch), resuming 1 -> 2
and 2 -> 1 processes mid-epoch, and one process on a host with two visible GPUs (simulated:
transformers' DataParallel took twice the step there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_finetune_training import EXAMPLE_DATA, audited_dataset, finetune, manifest

from finetune.config import TrainConfig
from finetune.training import schedule_lambda

# 10 records, batch 3 x accumulation 4 = 12 a step, 2.5 epochs = 25 samples: steps of 12, 12
# and 1 (the short last step: one sample for two processes). Two processes: 3 x 2 each.
ODD = ["--batch-size", "3", "--grad-accum", "4", "--epochs", "2.5"]
# Batch 1 x accumulation 8, 1.9 epochs = 19 samples: 8, 8, 3. Two processes: 1 x 4 each,
# and in the last step 2 micro-batches on the first, 1 on the second.
FOUR_PER_RANK = ["--batch-size", "1", "--grad-accum", "8", "--epochs", "1.9"]
COMMON = ["--seq", "96", "--lr", "1e-3", "--save-every", "1", "--save-optimizer", "--no-progress"]
RECORDS = 10

# One process that sees two GPUs: what TrainingArguments sets up on such a host outside
# accelerate launch (n_gpu = torch.cuda.device_count() = 2), on this CPU.
TWO_VISIBLE_GPUS = """
import sys
from functools import cached_property
from transformers import TrainingArguments

setup = TrainingArguments._setup_devices.func

def two_gpus(self):
    device = setup(self)
    self._n_gpu = 2
    return device

patched = cached_property(two_gpus)
patched.__set_name__(TrainingArguments, "_setup_devices")
TrainingArguments._setup_devices = patched
from finetune.cli import main
sys.argv = ["finetune", *sys.argv[1:]]
main()
"""

# Under accelerate launch: counts each rank's gradient all-reduces (DDP comm hook calls, one
# per bucket) and writes them to $COUNT_FILE<rank> at exit.
COUNT_ALL_REDUCES = """
import atexit, json, os, sys
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

buckets = []
init = DistributedDataParallel.__init__

def counting_init(self, *args, **kwargs):
    init(self, *args, **kwargs)

    def hook(group, bucket):
        buckets.append(bucket.index())
        return allreduce_hook(group, bucket)

    self.register_comm_hook(None, hook)

DistributedDataParallel.__init__ = counting_init
path = os.environ["COUNT_FILE"] + os.environ["RANK"]
atexit.register(lambda: open(path, "w").write(json.dumps(buckets)))
from finetune.cli import main
sys.argv = ["finetune", *sys.argv[1:]]
main()
"""


def build_tiny_model(folder: Path) -> Path:
    """A 2-layer random Mistral and a byte-level BPE trained on the example records."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    from core.datasets import load_dataset

    text = [f"{r.question} {r.answer}" for r in load_dataset(EXAMPLE_DATA).records]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(text, trainer=trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    tokenizer.save_pretrained(str(folder))
    config = MistralConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                           vocab_size=len(tokenizer), max_position_embeddings=256,
                           bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    MistralForCausalLM(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    data, db = audited_dataset(folder, n=RECORDS)
    return {"folder": folder, "model": build_tiny_model(folder / "model"), "data": data, "db": db}


def train(setup, out: Path, args: list[str], processes: int = 1) -> Path:
    done = finetune(["train", "--model", str(setup["model"]), "--data", str(setup["data"]),
                     "--out", str(out), "--override-gate", "test run", *args, *COMMON],
                    setup["db"], processes=processes)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def resume(setup, bundle: Path, out: Path, processes: int) -> Path:
    done = finetune(["resume", str(bundle), "--model", str(setup["model"]), "--data",
                     str(setup["data"]), "--out", str(out), "--no-progress"], setup["db"],
                    processes=processes)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def last(out: Path) -> dict:
    return manifest(sorted(out.glob("handoff-step-*"))[-1])


def assert_same_steps(one: dict, other: dict) -> None:
    """Step by step: the same records in the same order, the same learning rate, the same
    tokens (every rank's), the loss within 1%."""
    a_steps, b_steps = one["losses"], other["losses"]
    assert [s["step"] for s in a_steps] == [s["step"] for s in b_steps]
    for a, b in zip(a_steps, b_steps, strict=True):
        assert b["record_ids"] == a["record_ids"], f"step {a['step']}"
        assert b["lr"] == a["lr"], f"step {a['step']}"
        assert b["tokens"] == a["tokens"], f"step {a['step']}"
        assert b["loss"] == pytest.approx(a["loss"], rel=0.01), f"step {a['step']}"
    assert other["cursor"] == one["cursor"]
    assert other["samples_consumed"] == one["samples_consumed"]


def assert_one_process_schedule(run: dict, per_step: int, samples: int) -> None:
    """The step sizes and learning rates of a one-process run of ``samples`` samples: the LR
    schedule advances once per global step."""
    config = TrainConfig.model_validate(run["config"])
    steps = run["total_steps"]
    multiplier = schedule_lambda(config, steps)
    sizes = [min(per_step, samples - i * per_step) for i in range(steps)]
    assert [len(s["record_ids"]) for s in run["losses"]] == sizes
    assert [s["lr"] for s in run["losses"]] == [config.lr * multiplier(i) for i in range(steps)]
    assert all(s["tokens"] > 0 for s in run["losses"])


@pytest.fixture(scope="module")
def odd(setup):
    """ODD on one process and on two, each with a bundle after every step."""
    folder = setup["folder"]
    return {"one": train(setup, folder / "odd-1", ODD),
            "two": train(setup, folder / "odd-2", ODD, processes=2)}


@pytest.mark.slow
def test_two_ranks_with_two_accumulation_steps_and_an_odd_batch_take_the_one_process_steps(
        odd):
    one, two = last(odd["one"]), last(odd["two"])
    assert_one_process_schedule(one, per_step=12, samples=25)
    assert_same_steps(one, two)  # the last step's one sample included (a ghost on rank 1)
    assert [s["processes"] for s in two["sessions"]] == [2]
    assert sorted(p.name for p in odd["two"].glob("handoff-step-*")) == [
        f"handoff-step-00000{i}" for i in (1, 2, 3)]  # one set of bundles, by rank 0


@pytest.mark.slow
def test_two_ranks_with_four_accumulation_steps_take_the_one_process_steps(setup, tmp_path):
    one = last(train(setup, tmp_path / "one", FOUR_PER_RANK))
    two = last(train(setup, tmp_path / "two", FOUR_PER_RANK, processes=2))
    assert_one_process_schedule(one, per_step=8, samples=19)
    assert_same_steps(one, two)


@pytest.mark.slow
@pytest.mark.parametrize(("first", "then"), [(1, 2), (2, 1)])
def test_a_bundle_from_mid_epoch_resumes_on_another_number_of_processes(
        setup, odd, tmp_path, first, then):
    bundle = (odd["one"] if first == 1 else odd["two"]) / "handoff-step-000001"
    assert manifest(bundle)["cursor"] == {"epoch": 1, "index": 2}  # 12 samples of 10 records
    resumed = last(resume(setup, bundle, tmp_path / "resumed", then))
    assert_same_steps(last(odd["one"]), resumed)
    assert [s["processes"] for s in resumed["sessions"]] == [first, then]


@pytest.mark.slow
def test_one_process_that_sees_two_gpus_takes_the_one_process_step(setup, odd, tmp_path):
    """transformers would drive both GPUs from one process with DataParallel: twice the
    micro-batch (24 records a step here) and twice the loss. The session pins it to one."""
    out = tmp_path / "two-visible"
    env = {**os.environ, "ASSAY_DB": str(setup["db"]), "ASSAY_TORCH_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", TWO_VISIBLE_GPUS, "train", "--model", str(setup["model"]),
         "--data", str(setup["data"]), "--out", str(out), "--override-gate", "test run", *ODD,
         *COMMON], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_steps(last(odd["one"]), last(out))



@pytest.mark.slow
def test_ddp_all_reduces_once_per_optimizer_step_not_per_micro_batch(setup, tmp_path):
    """no_sync during accumulation: 3 steps of 4, 4 and 2 (or 1) micro-batches per rank make
    3 rounds of all-reduces, not 10."""
    from servers import free_port

    script = tmp_path / "count_all_reduces.py"
    script.write_text(COUNT_ALL_REDUCES, encoding="utf-8")
    env = {**os.environ, "ASSAY_DB": str(setup["db"]), "ASSAY_TORCH_THREADS": "1",
           "COUNT_FILE": str(tmp_path / "all-reduces-")}
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
         "2", "--num_machines", "1", "--main_process_port", str(free_port()),
         "--mixed_precision", "no", "--dynamo_backend", "no", str(script), "train", "--model",
         str(setup["model"]), "--data", str(setup["data"]), "--out", str(tmp_path / "run"),
         "--override-gate", "test run", *FOUR_PER_RANK, *COMMON],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        buckets = json.loads((tmp_path / f"all-reduces-{rank}").read_text())
        assert buckets.count(0) == 3, buckets  # bucket 0 once per optimizer step
