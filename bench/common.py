"""What every benchmark records next to its figures: the machine and the exact command."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Absolute paths of the machine a figure was measured on say nothing to a reader of the result
# and differ on theirs: results name files relative to the repository, and everything else by
# the variable a user would set ($ASSAY_CACHE, $TMPDIR, ~).
_ABSOLUTE = re.compile(r"(?<![\w.$~/])/(?!/)(?:[\w.+-]+/)*[\w.+-]*")


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
    return write_json(path, body)


def write_json(path: Path, result: dict) -> Path:
    """Write ``result`` as indented JSON with every path in it made portable."""
    path.write_text(json.dumps(portable(result), indent=2, default=str) + "\n", encoding="utf-8")
    return path


def portable(value):
    """``value`` (JSON-like) with absolute paths rewritten: the repository's and its
    neighbours' relative to the repository root, the model cache as ``$ASSAY_CACHE``, scratch
    folders as ``$TMPDIR``, a Python interpreter as ``python``, any other as ``…/name``."""
    if isinstance(value, dict):
        return {portable(key): portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    if isinstance(value, str):
        return _ABSOLUTE.sub(lambda match: _portable_path(match.group(0)), value)
    return value


def _portable_path(text: str) -> str:
    if len(text) < 2:
        return text
    path = Path(text)
    if re.fullmatch(r"python[\d.]*", path.name) and path.parent.name == "bin":
        return "python"
    cache = Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))
    for base, name in ((ROOT, None), (ROOT.parent, ".."), (cache, "$ASSAY_CACHE"),
                       (Path.home() / ".cache" / "assay", "$ASSAY_CACHE"),
                       (Path(tempfile.gettempdir()), "$TMPDIR"), (Path("/tmp"), "$TMPDIR"),
                       (Path.home(), "~")):
        if path == base or base in path.parents:
            rest = path.relative_to(base).as_posix()
            if name is None:
                return rest if rest != "." else "."
            return name if rest == "." else f"{name}/{rest}"
    return text if len(path.parts) <= 2 else f"…/{path.name}"
