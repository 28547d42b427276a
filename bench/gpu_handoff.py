"""A real two-phase QLoRA handoff: phase 1 stops at its wall-clock budget and writes a bundle;
phase 2 resumes from it in a fresh process; the loss curve continues where it stopped.

    python bench/gpu_handoff.py --model gemma-3-270m --budget 90s [--epochs 3]

Both phases run `finetune` as separate processes (as on two machines) over the bundled
advising example, with the gate overridden and the reason recorded (the example is known to
carry ~29% wrong answers; this run demonstrates the mechanics, not a model worth using).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "advising" / "dataset.jsonl"
REASON = "GPU handoff demonstration on the bundled example (errors known and labelled)"


def assay(tool: str, *args: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", tool, *args], cwd=cwd, check=True,
                   env=os.environ | {"PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"})
    return time.perf_counter() - started


def finetune(*args: str, cwd: Path) -> float:
    return assay("finetune", *args, "--no-progress", cwd=cwd)


def latest_bundle(out: Path) -> Path:
    return sorted(out.glob("handoff-step-*"))[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--budget", default="90s", help="phase 1 wall-clock budget")
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--seq", default="512")
    parser.add_argument("--max-steps", default=None, help="cap the run (for a CPU check)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = work / "runs" / "handoff"
        # The gate needs an audit to decide on (and fails it): a quick rules-only audit.
        (work / "rules.toml").write_text('[[judge]]\nname = "rules"\nprovider = "rules"\n')
        assay("audit", "sample", "--n", "40", "--dataset", str(DATA), "--judges",
              str(work / "rules.toml"), cwd=work)
        phase1_s = finetune("train", "--model", args.model, "--data", str(DATA), "--out", str(out),
                            "--budget", args.budget, "--epochs", args.epochs, "--seq", args.seq,
                            "--override-gate", REASON,
                            *(["--max-steps", args.max_steps] if args.max_steps else []), cwd=work)
        bundle = latest_bundle(out)
        first = json.loads((bundle / "handoff.json").read_text())
        phase2_s = finetune("resume", str(bundle), "--model", args.model, "--data", str(DATA),
                            cwd=work)
        final = json.loads((latest_bundle(out) / "handoff.json").read_text())
    losses = [{"step": s["step"], "loss": s["loss"], "lr": s.get("lr")} for s in final["losses"]]
    handoff_step = first["global_step"]
    figures = {
        "model": args.model,
        "phase1": {"budget": args.budget, "wall_s": round(phase1_s, 1), "stopped_at_step": handoff_step,
                   "reason": first["reason"], "peak_gpu_memory_gib": first["peak_gpu_memory_gib"]},
        "phase2": {"wall_s": round(phase2_s, 1), "final_step": final["global_step"],
                   "total_steps": final["total_steps"], "sessions": final["sessions"],
                   "peak_gpu_memory_gib": final["peak_gpu_memory_gib"]},
        "gate_override_recorded": bool(final["gate"].get("overridden")),
        "loss_before_handoff": [x for x in losses if x["step"] <= handoff_step][-5:],
        "loss_after_handoff": [x for x in losses if x["step"] > handoff_step][:5],
        "losses": losses,
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "losses"}, indent=2))
    path = save("gpu_handoff", figures)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], path.name).write_text(path.read_text())
    print(f"saved {path}")


if __name__ == "__main__":
    main()
