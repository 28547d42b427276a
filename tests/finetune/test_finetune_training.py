"""The gate in front of training, and QLoRA on the packaged Gemma 3 270M in 4-bit on CPU:
train, hand off, resume in a new process, and match the uninterrupted run step for step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from example_runs import store_half_wrong_run

from core.datasets import load_dataset, write_jsonl
from core.store import Store

EXAMPLE_DATA = Path(__file__).resolve().parents[2] / "examples" / "advising" / "dataset.jsonl"

# Runs `finetune` and reports which heavy modules were imported when it exited.
PROBE = """
import json, sys
from finetune.cli import main
sys.argv = ["finetune", *sys.argv[2:]]
try:
    main()
finally:
    with open(PROBE_PATH, "w") as out:
        json.dump({name: name in sys.modules for name in ("torch", "transformers", "peft")}, out)
"""


def audited_dataset(folder: Path, n: int = 4) -> tuple[Path, Path]:
    """A small dataset and a database holding a real audit run that fails it."""
    store, _ = store_half_wrong_run(folder, load_dataset(EXAMPLE_DATA).records[:n])
    store.close()
    return folder / "data.jsonl", folder / "assay.db"


def finetune(args: list[str], db: Path, probe: Path | None = None, timeout: int = 600,
             processes: int = 1, env: dict[str, str] | None = None):
    """`finetune ARGS` in a new process; with ``processes`` > 1 under `accelerate launch`
    (DDP over gloo on this CPU: the same code path as several GPUs, one rank per process)."""
    env = {**os.environ, "ASSAY_DB": str(db), "COLUMNS": "120", **(env or {})}
    # One thread per process: other processes share the CI cores, and OpenMP spinning
    # under oversubscription makes a CPU step ~10x slower.
    env.setdefault("ASSAY_TORCH_THREADS", "1")
    if processes > 1:
        from servers import free_port

        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                   "--num_processes", str(processes), "--num_machines", "1",
                   "--main_process_port", str(free_port()), "--mixed_precision", "no",
                   "--dynamo_backend", "no", "-m", "finetune", *args]
    elif probe is None:
        command = [sys.executable, "-m", "finetune", *args]
    else:
        code = PROBE.replace("PROBE_PATH", repr(str(probe)))
        command = [sys.executable, "-c", code, "finetune", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def test_a_failed_gate_refuses_before_torch_is_imported(tmp_path):
    data, db = audited_dataset(tmp_path)
    probe = tmp_path / "modules.json"
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(data),
                     "--out", str(tmp_path / "run")], db, probe)
    assert done.returncode == 1, done.stderr
    assert "training refused by the audit gate" in done.stderr
    assert "gate fail" in done.stderr and "error rate 2/4" in done.stderr
    assert json.loads(probe.read_text()) == {"torch": False, "transformers": False, "peft": False}
    assert not (tmp_path / "run").exists()


def test_training_another_file_keeps_its_decision_out_of_the_audited_runs_report(tmp_path):
    from audit.report_data import build_report

    data, db = audited_dataset(tmp_path)
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(EXAMPLE_DATA),
                     "--out", str(tmp_path / "run")], db)
    assert done.returncode == 1, done.stderr
    assert "training refused by the audit gate" in done.stderr
    assert "the dataset changed after the audit" in done.stderr
    store = Store(db)
    (decision,) = store.decisions_for_dataset(load_dataset(EXAMPLE_DATA).sha256)
    assert decision.status == "fail" and decision.audit_run_id == "audit-1"
    assert build_report(store, "audit-1", passages={}, bootstrap=0).decisions == []


def test_an_override_needs_a_reason(tmp_path):
    data, db = audited_dataset(tmp_path)
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(data), "--out",
                     str(tmp_path / "run"), "--override-gate", " "], db)
    assert done.returncode == 2
    assert "--override-gate needs a reason" in done.stderr


# -- training (slow: loads and quantizes the packaged model) --------------------------------

TRAIN_ARGS = ["--epochs", "1.5", "--batch-size", "2", "--grad-accum", "1", "--seq", "64",
              "--save-every", "1", "--save-optimizer", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One run of 3 steps (4 records, 2 per step, 1.5 epochs) with a bundle after each step."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    data, db = audited_dataset(folder)
    out = folder / "run"
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(data), "--out", str(out),
                     "--override-gate", "pilot run: audit disputed", *TRAIN_ARGS], db)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"folder": folder, "data": data, "db": db, "out": out, "stdout": done.stdout}


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "handoff.json").read_text())


@pytest.mark.slow
def test_override_is_recorded_in_the_run_and_every_bundle(uninterrupted):
    out = uninterrupted["out"]
    bundles = sorted(out.glob("handoff-step-*"))
    assert [b.name for b in bundles] == [f"handoff-step-00000{i}" for i in (1, 2, 3)]
    run = json.loads((out / "run.json").read_text())
    for gate in [run["gate"], *(manifest(b)["gate"] for b in bundles)]:
        assert gate["overridden"] is True
        assert gate["override_reason"] == "pilot run: audit disputed"
        assert gate["decision"]["status"] == "fail"
        assert any("error rate" in reason for reason in gate["decision"]["reasons"])
    assert run["status"] == "complete"


@pytest.mark.slow
def test_bundle_holds_safetensors_manifest_and_checksums(uninterrupted):
    bundle = uninterrupted["out"] / "handoff-step-000002"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == ["adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                     "checksums.json", "handoff.json", "optimizer.safetensors"]
    m = manifest(bundle)
    assert m["global_step"] == 2 and m["total_steps"] == 3
    assert m["cursor"] == {"epoch": 1, "index": 0} and m["samples_consumed"] == 4
    assert m["chat_template"]["source"] == "fallback"  # the GGUF conversion has no template
    assert m["scheduler"]["position"] == 2 and m["scheduler"]["total_steps"] == 3
    assert [s["step"] for s in m["losses"]] == [1, 2]
    assert all(s["lr"] > 0 and s["tokens"] > 0 for s in m["losses"])
    assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(m["library_versions"])
    assert m["peak_cpu_rss_gib"] > 0
    assert m["config"]["liger"] is False  # the default (None: where it runs) decided: no GPU
    epoch0 = [rid for s in m["losses"][:1] for rid in s["record_ids"]] + m["losses"][1][
        "record_ids"]
    assert len(set(epoch0)) == 4  # the first 4 samples are one permutation of the 4 records


@pytest.mark.slow
def test_resume_in_a_new_process_matches_the_uninterrupted_run(uninterrupted, tmp_path):
    from safetensors.torch import load_file

    source = uninterrupted["out"] / "handoff-step-000001"
    out = tmp_path / "resumed"
    done = finetune(["resume", str(source), "--model", "gemma-3-270m", "--data",
                     str(uninterrupted["data"]), "--out", str(out), "--no-progress"],
                    uninterrupted["db"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "steps 2-3 of 3 (complete" in done.stdout
    whole = manifest(uninterrupted["out"] / "handoff-step-000003")["losses"]
    resumed = manifest(out / "handoff-step-000003")
    assert resumed["losses"][0] == whole[0]  # step 1 carried over from the bundle
    for a, b in zip(whole[1:], resumed["losses"][1:], strict=True):
        assert a["step"] == b["step"]
        assert a["record_ids"] == b["record_ids"]  # same samples, same order
        assert a["lr"] == b["lr"]  # same learning rate applied at the step
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    assert [s["first_step"] for s in resumed["sessions"]] == [1, 2]
    first = load_file(uninterrupted["out"] / "handoff-step-000003/adapter/adapter_model.safetensors")
    second = load_file(out / "handoff-step-000003/adapter/adapter_model.safetensors")
    assert first.keys() == second.keys()
    for key in first:
        assert (first[key] - second[key]).abs().max().item() < 1e-4, key


@pytest.mark.slow
def test_resume_refuses_another_dataset(uninterrupted, tmp_path):
    other = write_jsonl(load_dataset(EXAMPLE_DATA).records[4:8], tmp_path / "other.jsonl")
    done = finetune(["resume", str(uninterrupted["out"] / "handoff-step-000001"), "--model",
                     "gemma-3-270m", "--data", str(other), "--out", str(tmp_path / "r")],
                    uninterrupted["db"])
    assert done.returncode == 2
    assert "resume with the same data" in done.stderr


# -- the same run under accelerate launch (2 processes, DDP) --------------------------------


def assert_same_steps(whole: list[dict], other: list[dict]) -> None:
    """Same samples in the same order and the same LR at each step; the loss within DDP's
    numerics (two batches of one averaged vs one padded batch of two)."""
    assert [s["step"] for s in whole] == [s["step"] for s in other]
    for a, b in zip(whole, other, strict=True):
        assert a["record_ids"] == b["record_ids"]
        assert a["lr"] == b["lr"] and a["tokens"] == b["tokens"]
        assert a["loss"] == pytest.approx(b["loss"], rel=0.01)


@pytest.mark.slow
def test_two_processes_take_the_one_process_steps_and_write_one_set_of_bundles(
        uninterrupted, tmp_path):
    out = tmp_path / "ddp"
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(uninterrupted["data"]),
                     "--out", str(out), "--override-gate", "pilot run: audit disputed",
                     *TRAIN_ARGS], uninterrupted["db"], processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("steps 1-3 of 3 (complete") == 1  # the first process reports
    assert sorted(p.name for p in out.glob("handoff-step-*")) == [
        f"handoff-step-00000{i}" for i in (1, 2, 3)]
    last = manifest(out / "handoff-step-000003")
    assert last["cursor"] == {"epoch": 1, "index": 2} and last["samples_consumed"] == 6
    assert_same_steps(manifest(uninterrupted["out"] / "handoff-step-000003")["losses"],
                      last["losses"])
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_a_step_that_does_not_divide_over_the_processes_is_refused_in_one_line(tmp_path):
    data, db = audited_dataset(tmp_path)
    # What accelerate launch sets for the first of 2 processes; refused before any model loads.
    done = finetune(["train", "--model", "gemma-3-270m", "--data", str(data), "--out",
                     str(tmp_path / "run"), "--override-gate", "pilot", "--batch-size", "3",
                     "--grad-accum", "1", "--no-progress"], db,
                    env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--batch-size 3 x --grad-accum 1 does not divide over 2 processes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "run").glob("handoff-step-*"))


@pytest.mark.slow
@pytest.mark.parametrize(("first", "then"), [(1, 2), (2, 1)])
def test_a_bundle_resumes_on_another_number_of_processes(uninterrupted, tmp_path, first, then):
    source = uninterrupted["out"] / "handoff-step-000001"
    if first == 2:  # a bundle written by two processes: stop after step 1
        done = finetune(["train", "--model", "gemma-3-270m", "--data", str(uninterrupted["data"]),
                         "--out", str(tmp_path / "first"), "--override-gate", "pilot run",
                         *TRAIN_ARGS, "--session-steps", "1"], uninterrupted["db"], processes=2)
        assert done.returncode == 0, done.stderr[-3000:]
        source = tmp_path / "first" / "handoff-step-000001"
        assert manifest(source)["samples_consumed"] == 2
    out = tmp_path / "resumed"
    done = finetune(["resume", str(source), "--model", "gemma-3-270m", "--data",
                     str(uninterrupted["data"]), "--out", str(out), "--no-progress"],
                    uninterrupted["db"], processes=then)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("steps 2-3 of 3 (complete") == 1
    assert_same_steps(manifest(uninterrupted["out"] / "handoff-step-000003")["losses"],
                      manifest(out / "handoff-step-000003")["losses"])
