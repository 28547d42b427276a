"""What a dry run prints: requests, tokens and estimated cost per judge (or teacher)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from core.batch.jobs import Estimate


def render_estimate(estimate: Estimate, console: Console, *, header: str, requests_path: Path,
                    free: list[str] | None = None) -> None:
    """``header`` first; ``free`` names participants that cost nothing (in-process, cached)."""
    console.print(header, markup=False)
    for name, row in estimate.per_judge.items():
        console.print(
            f"  {name} ({row['model']}): {row['requests']} requests, ~{row['tokens_in']:,} "
            f"tokens in, ~{row['tokens_out_expected']:,} out, ~${row['cost_usd']:.4f} "
            f"(at most ${row['cost_usd_max']:.4f})", markup=False, soft_wrap=True)
    if free:
        console.print(f"  {', '.join(free)}: in-process or already done/cached, no charge",
                      markup=False)
    console.print(f"total: {estimate.requests} requests, ~{estimate.tokens_in:,} tokens in, "
                  f"~${estimate.cost_usd:.4f} (at most ${estimate.cost_usd_max:.4f})", markup=False)
    console.print(f"requests written to {requests_path}", markup=False)
