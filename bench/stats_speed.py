"""Speed of Krippendorff's α and its bootstrap on a large label matrix.

α (nominal) on 100,000 units x 5 judges with 10% missing values: our vectorised version and
the `krippendorff` package in the same run, on the same matrix (values checked equal), plus
1,000 bootstrap replicates. Prints the figures and writes bench/results/stats_speed.json.

    python bench/stats_speed.py [--units 100000] [--judges 5] [--missing 0.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from common import machine  # bench/common.py (this script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results" / "stats_speed.json"


def make_labels(units: int, judges: int, missing: float, categories: int, seed: int) -> np.ndarray:
    """Judges that mostly agree with a latent truth, with ``missing`` of the values removed."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, categories, size=units)
    noise = rng.integers(0, categories, size=(units, judges))
    labels = np.where(rng.random((units, judges)) < 0.75, truth[:, None], noise).astype(float)
    labels[rng.random(labels.shape) < missing] = np.nan
    return labels


def best_of(repeats: int, fn) -> tuple[float, list[float], object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, value


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--judges", type=int, default=5)
    parser.add_argument("--missing", type=float, default=0.1)
    parser.add_argument("--categories", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import krippendorff

    from audit.stats import bootstrap, krippendorff_alpha

    labels = make_labels(args.units, args.judges, args.missing, args.categories, args.seed)
    ours_s, ours_all, ours = best_of(args.repeats, lambda: krippendorff_alpha(labels).value)
    pkg_s, pkg_all, pkg = best_of(
        args.repeats,
        lambda: krippendorff.alpha(reliability_data=labels.T, level_of_measurement="nominal"),
    )
    boot_s, boot_all, boot = best_of(
        args.repeats,
        lambda: krippendorff_alpha(labels, bootstrap=args.replicates, seed=args.seed),
    )
    # The index-resampling path, used when units have too many distinct rating patterns
    # for the multinomial shortcut; forced here to show what it costs on the same data.
    bootstrap._MULTINOMIAL_COST_RATIO = 10**12
    slow_s, slow_all, slow = best_of(
        1, lambda: krippendorff_alpha(labels, bootstrap=args.replicates, seed=args.seed)
    )

    argv_used = sys.argv if argv is None else [sys.argv[0], *argv]
    result = {
        "benchmark": "krippendorff alpha nominal + bootstrap",
        "command": "python " + shlex.join([os.path.relpath(argv_used[0]), *argv_used[1:]]),
        "machine": machine() | {  # load_average_1m at the end: the machine is shared
            "numpy": np.__version__,
            "scipy": metadata.version("scipy"),
            "krippendorff": metadata.version("krippendorff"),
        },
        "data": {
            "units": args.units,
            "judges": args.judges,
            "missing_share": float(np.isnan(labels).mean()),
            "categories": args.categories,
            "seed": args.seed,
        },
        "alpha": {"ours": ours, "krippendorff_package": pkg, "abs_diff": abs(ours - pkg)},
        "seconds": {
            "ours_best": ours_s,
            "krippendorff_package_best": pkg_s,
            "speedup": pkg_s / ours_s,
            "bootstrap_best": boot_s,
            "bootstrap_index_path": slow_s,
            "all_runs": {"ours": ours_all, "krippendorff_package": pkg_all, "bootstrap": boot_all},
        },
        "bootstrap": {
            "replicates": args.replicates,
            "ci_multinomial_path": boot.ci.to_dict() if boot.ci else None,
            "ci_index_path": slow.ci.to_dict() if slow.ci else None,
        },
        "repeats": args.repeats,
    }
    print(
        f"alpha nominal, {args.units:,} units x {args.judges} judges, "
        f"{result['data']['missing_share']:.1%} missing (best of {args.repeats})"
    )
    print(f"  ours                 {ours_s * 1000:8.1f} ms   alpha = {ours:.12f}")
    print(f"  krippendorff package {pkg_s * 1000:8.1f} ms   alpha = {pkg:.12f}")
    print(
        f"  {args.replicates} bootstrap replicates (incl. point estimate) {boot_s * 1000:.1f} ms"
        f"; index-resampling path {slow_s:.2f} s"
    )
    print(f"  95% CI {boot.ci.low:.4f} .. {boot.ci.high:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
