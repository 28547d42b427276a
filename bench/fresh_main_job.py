"""The README's first command as a new user runs it: a fresh clone, a new virtual environment,
an empty model cache. Times setup, the one-time model conversion, the audit and the warm
re-run; counts failed judgments (must be 0) and the re-run's model calls (must be 0).

    python3 bench/fresh_main_job.py [--ref HEAD] [--check] [--out FILE] [--keep]

Standard library only: it runs before any virtual environment exists. ``--check`` (CI) exits
1 when the command fails, a judgment failed, or the re-run called a model or changed a number.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRST_COMMAND = ["bash", "scripts/audit-example.sh"]  # the README's first command
MARKS = {"judging": re.compile(r"^judging \d+/"), "convert_start": re.compile(r"^Converting "),
         "convert_end": re.compile(r"converted in \d+ s")}


def fresh_env(cache: Path, pip_cache: Path | None) -> dict[str, str]:
    """The caller's environment without any virtual environment or Assay settings; with
    ``pip_cache``, pip starts from that (empty) cache as on a new machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ASSAY_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    venv_bin = os.environ.get("VIRTUAL_ENV", "\0") + "/bin"
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["ASSAY_CACHE"] = str(cache)
    if pip_cache is not None:
        env["PIP_CACHE_DIR"] = str(pip_cache)
    return env


def run_timed(command: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run ``command``, echoing its output; seconds from start to each marked line."""
    started = time.monotonic()
    marks: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
            for name, pattern in MARKS.items():
                if name not in marks and pattern.search(line):
                    marks[name] = time.monotonic() - started
    return {"exit_code": proc.returncode, "wall_s": time.monotonic() - started, "marks": marks,
            "output": "".join(lines)}


def phases(first: dict) -> dict[str, float | None]:
    marks, wall = first["marks"], first["wall_s"]
    judging = marks.get("judging", wall)
    conversion = (marks["convert_end"] - marks["convert_start"]
                  if "convert_start" in marks and "convert_end" in marks else None)
    return {"setup_s": round(judging, 1), "conversion_s": round(conversion, 1) if conversion else None,
            "audit_s": round(wall - judging - (conversion or 0.0), 1), "total_s": round(wall, 1)}


def model_calls(output: str) -> int | None:
    found = re.findall(r"model calls: (\d+) new", output)
    return int(found[-1]) if found else None


def statistics(output: str) -> list[str]:
    """The printed report, without the lines that legitimately change between runs."""
    report = output[output.find("+- Audit run"):]
    return [line for line in report.splitlines() if "model calls" not in line]


def judgment_counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return {"judgments": 0, "failed": 0}
    with sqlite3.connect(db) as conn:
        total, failed = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'failed'), 0) FROM judgments").fetchone()
    return {"judgments": total, "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="Commit to clone (default HEAD).")
    parser.add_argument("--check", action="store_true", help="Exit 1 unless everything held.")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON file (default {RESULTS / 'fresh_main_job.json'}).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary clone.")
    parser.add_argument("--warm-pip-cache", action="store_true",
                        help="Let pip use its usual cache (default: an empty one, as on a new "
                             "machine: every package but torch is downloaded).")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="assay-fresh-"))
    clone, cache = tmp / "assay", tmp / "cache"
    commit = subprocess.run(["git", "rev-parse", args.ref], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=clone, check=True)
    env = fresh_env(cache, None if args.warm_pip_cache else tmp / "pip-cache")

    print(f"== fresh clone of {commit[:12]} in {clone}; ASSAY_CACHE={cache}; "
          f"pip cache {'warm' if args.warm_pip_cache else 'empty'}", flush=True)
    first = run_timed(FIRST_COMMAND, clone, env)
    counts = judgment_counts(clone / ".assay" / "assay.db")
    print("== warm re-run of the audit command", flush=True)
    warm = run_timed([str(clone / ".venv" / "bin" / "audit"), "sample", "--n", "40"], clone, env)
    print("== warm re-run of the whole first command (setup check included)", flush=True)
    warm_script = run_timed(FIRST_COMMAND, clone, env)

    figures = {
        "commit": commit,
        "first_command": " ".join(FIRST_COMMAND),
        "pip_cache": "warm" if args.warm_pip_cache else "empty",
        "exit_code": first["exit_code"],
        **phases(first),
        **counts,
        "model_calls_first": model_calls(first["output"]),
        "warm_rerun_s": round(warm["wall_s"], 2),
        "warm_rerun_exit_code": warm["exit_code"],
        "warm_rerun_model_calls": model_calls(warm["output"]),
        "warm_rerun_same_numbers": statistics(warm["output"]) == statistics(first["output"]),
        "warm_first_command_s": round(warm_script["wall_s"], 1),
        "goals": {"total_s": 600, "warm_rerun_s": 3, "failed": 0, "warm_rerun_model_calls": 0},
    }
    ok = (first["exit_code"] == 0 and counts["failed"] == 0 and counts["judgments"] == 80
          and warm["exit_code"] == 0 and figures["warm_rerun_model_calls"] == 0
          and figures["warm_rerun_same_numbers"])
    figures["held"] = ok
    path = save("fresh_main_job", figures, path=args.out)
    shown = {k: v for k, v in figures.items() if k != "goals"}
    print("== " + ", ".join(f"{k}={v}" for k, v in shown.items()) + f"\n== saved {path}")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
