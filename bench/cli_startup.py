"""Wall time of `audit --help` (and the other entry points), and proof it imports no torch.

    python bench/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

PROBE = (
    "import sys, runpy; sys.argv = ['{cmd}', '--help']\n"
    "try:\n    runpy.run_module('{cmd}', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers'))\n"
    "print('HEAVY', ','.join(heavy))"
)


def time_help(command: str, repeat: int) -> dict:
    walls, heavy = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE.format(cmd=command)],
                              capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - started)
        heavy = done.stdout.rsplit("HEAVY", 1)[-1].strip()
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "heavy_modules_imported": heavy.split(",") if heavy else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    figures = {"python_startup_s": round(time.perf_counter() - started, 3), "commands": {}}
    for command in ("audit", "generate", "finetune", "reports"):
        figures["commands"][command] = time_help(command, args.repeat)
        row = figures["commands"][command]
        print(f"{command} --help: median {row['median_s']:.3f} s, min {row['min_s']:.3f} s,"
              f" torch/transformers imported: {row['heavy_modules_imported'] or 'none'}")
    print(f"saved {save('cli_startup', figures)}")


if __name__ == "__main__":
    main()
