"""The main job, timed: `audit sample --n 40` on the bundled example with the default panel,
then the same command again (it must make 0 model calls and print identical numbers).

    python bench/audit_sample.py [--n 40]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402


def timed_run(workdir: Path, n: int) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "audit", "sample", "--n", str(n)], cwd=workdir,
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        first_s, first = timed_run(workdir, args.n)
        db = sqlite3.connect(workdir / ".assay" / "assay.db")
        calls = db.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0]
        judgments = db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
        second_s, second = timed_run(workdir, args.n)
        calls_after = db.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0]
    strip = lambda out: [line for line in out.splitlines() if "model calls" not in line]  # noqa: E731
    figures = {
        "n": args.n,
        "first_run_s": round(first_s, 1),
        "judgments_stored": judgments,
        "model_calls_first_run": calls,
        "rerun_s": round(second_s, 2),
        "model_calls_rerun": calls_after - calls,
        "identical_numbers": strip(first) == strip(second),
        "goals": {"first_run_under_600_s": first_s < 600, "rerun_under_3_s": second_s < 3},
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(f"saved {save('audit_sample', figures)}")


if __name__ == "__main__":
    main()
