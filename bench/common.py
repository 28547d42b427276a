"""What every benchmark records next to its figures: the machine and the exact command."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine(libraries: bool = False) -> dict:
    """Platform, CPU, Python and load; with ``libraries`` also the training stack's versions
    and, when torch sees one, the GPU (name, memory, compute capability, CUDA)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": load,
    }
    if not libraries:
        return info
    import torch

    from finetune.training import library_versions

    info["libraries"] = library_versions()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 1024**3, 1),
                 "compute_capability": f"{props.major}.{props.minor}",
                 "cuda": torch.version.cuda}
    return info


def save(name: str, figures: dict, libraries: bool = False, path: Path | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (or ``path``) with the machine
    (``machine(libraries)``), command and date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = path or RESULTS / f"{name}.json"
    body = {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(libraries),
        **figures,
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
