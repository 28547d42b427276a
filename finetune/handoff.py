"""Handoff bundles: everything a later session on another machine needs to continue a run.

A bundle is a folder::

    adapter/adapter_model.safetensors   the peft LoRA weights (safetensors only)
    adapter/adapter_config.json
    optimizer.safetensors               optional (--save-optimizer); tensors + JSON metadata
    handoff.json                        HandoffManifest
    checksums.json                      sha256 of every other file, by relative path

Reading never unpickles anything and never follows a path out of the bundle: a manifest or
checksum list naming ``../x``, an absolute path, a symlink or a pickle-format file is refused.
Every problem is one ``BundleError`` line that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ConfigError
from core.models import GateDecision, utcnow

MANIFEST = "handoff.json"
CHECKSUMS = "checksums.json"
ADAPTER_DIR = "adapter"
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
OPTIMIZER_FILE = "optimizer.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
FORMAT_VERSION = 1


class BundleError(ConfigError):
    """A handoff bundle is incomplete, altered, unsafe, or does not fit this model/dataset."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleCursor(_Model):
    """Where the next sample comes from: ``order(epoch)[index]`` (see finetune.sampler)."""

    epoch: int = Field(ge=0)
    index: int = Field(ge=0)


class StepLog(_Model):
    """One optimizer step: its loss, the learning rate the optimizer actually applied."""

    step: int
    loss: float
    lr: float
    tokens: int = 0
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    record_ids: list[str] = Field(default_factory=list)


class SchedulerState(_Model):
    """The LR schedule is a pure function of the step; ``position`` is the next step's index."""

    name: str
    base_lr: float
    warmup_steps: int
    total_steps: int
    position: int
    next_lr: float


class GateRecord(_Model):
    """The gate decision training started under, and the override when it did not pass."""

    decision: GateDecision | None = None
    overridden: bool = False
    override_reason: str | None = None
    overridden_at: str | None = None


class ChatTemplateInfo(_Model):
    source: str  # "tokenizer" or "fallback"
    text: str
    sha256: str


class SessionInfo(_Model):
    started: str
    ended: str
    first_step: int
    last_step: int
    device: str
    processes: int = 1
    """Processes (one GPU each) the session trained on."""
    stop_reason: str


class HandoffManifest(_Model):
    """handoff.json: the exact state of a run at one optimizer step."""

    format_version: int = FORMAT_VERSION
    run_name: str
    base_model: str
    base_config_sha256: str
    dataset_path: str
    dataset_sha256: str
    n_records: int
    epoch: int
    global_step: int
    total_steps: int
    cursor: SampleCursor
    samples_consumed: int
    seeds: dict[str, int]
    scheduler: SchedulerState
    config: dict[str, Any]
    losses: list[StepLog] = Field(default_factory=list)
    gate: GateRecord
    chat_template: ChatTemplateInfo
    peak_gpu_memory_gib: float | None = None
    peak_gpu_memory_gib_per_process: list[float | None] | None = None  # DDP ranks
    peak_cpu_rss_gib: float | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)
    optimizer_state: bool = False
    adapter_dir: str = ADAPTER_DIR
    sessions: list[SessionInfo] = Field(default_factory=list)
    reason: str = ""
    created: str = Field(default_factory=utcnow)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(bundle: Path) -> dict[str, str]:
    """Write checksums.json: sha256 of every regular file under ``bundle`` but itself."""
    sums = {}
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if path.is_symlink():
            raise BundleError(f"{path}: symlinks are not allowed in a handoff bundle")
        if path.is_file() and rel != CHECKSUMS:
            sums[rel] = sha256_file(path)
    (bundle / CHECKSUMS).write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n")
    return sums


def finalize_bundle(tmp: Path, target: Path, manifest: HandoffManifest) -> Path:
    """Write the manifest and checksums into ``tmp`` and move it to ``target`` atomically."""
    (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    write_checksums(tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def new_bundle_dir(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".bundle-tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def safe_member(bundle: Path, name: str) -> Path:
    """``bundle/name`` if ``name`` is a plain relative path that stays inside the bundle."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
        raise BundleError(f"{bundle}: refusing the path {name!r}, which escapes the bundle")
    path = bundle / Path(*pure.parts)
    for parent in [path, *path.parents]:
        if parent == bundle:
            break
        if parent.is_symlink():
            raise BundleError(f"{bundle}: refusing {name!r}: it is or crosses a symlink")
    root = bundle.resolve()
    if root != path.resolve() and root not in path.resolve().parents:
        raise BundleError(f"{bundle}: refusing the path {name!r}, which escapes the bundle")
    return path


def read_bundle(bundle: str | os.PathLike[str]) -> HandoffManifest:
    """Verify a bundle (paths, file types, checksums) and return its manifest."""
    bundle = Path(bundle)
    if bundle.is_symlink() or not bundle.is_dir():
        raise BundleError(f"{bundle}: not a handoff bundle folder; pass the folder that holds "
                          f"{MANIFEST} (or a .tar.gz made by pack_bundle)")
    sums = _read_json(bundle, CHECKSUMS)
    if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
        raise BundleError(f"{bundle / CHECKSUMS}: expected an object of path -> sha256")
    present = _bundle_files(bundle)
    for name in sorted(present - set(sums)):
        raise BundleError(f"{bundle}: {name} is not listed in {CHECKSUMS}; the bundle was altered")
    for name, expected in sorted(sums.items()):
        path = safe_member(bundle, name)
        if name.endswith(PICKLE_SUFFIXES):
            raise BundleError(f"{bundle}: refusing {name}: pickle-format files are never loaded; "
                              "bundles hold safetensors only")
        if not path.is_file():
            raise BundleError(f"{bundle}: {name} is listed in {CHECKSUMS} but missing")
        if sha256_file(path) != expected:
            raise BundleError(f"{bundle}: checksum mismatch for {name}; the file was altered or "
                              "truncated in transfer, copy the bundle again")
    if MANIFEST not in sums:
        raise BundleError(f"{bundle}: {MANIFEST} is not covered by {CHECKSUMS}")
    try:
        manifest = HandoffManifest.model_validate(_read_json(bundle, MANIFEST))
    except ValueError as exc:
        first = str(exc).splitlines()[:3]
        raise BundleError(f"{bundle / MANIFEST}: not a valid manifest ({' '.join(first)})") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise BundleError(f"{bundle}: bundle format {manifest.format_version} is not supported "
                          f"(this version reads {FORMAT_VERSION}); upgrade assay")
    adapter = safe_member(bundle, manifest.adapter_dir)
    for name in ADAPTER_FILES:
        rel = f"{manifest.adapter_dir}/{name}"
        if rel not in sums or not (adapter / name).is_file():
            raise BundleError(f"{bundle}: the adapter file {rel} is missing")
    if manifest.optimizer_state and OPTIMIZER_FILE not in sums:
        raise BundleError(f"{bundle}: the manifest promises {OPTIMIZER_FILE} but it is missing")
    return manifest


def _bundle_files(bundle: Path) -> set[str]:
    names = set()
    for path in bundle.rglob("*"):
        rel = path.relative_to(bundle).as_posix()
        if path.is_symlink():
            raise BundleError(f"{bundle}: refusing {rel}: symlinks are not allowed in a bundle")
        if path.is_file() and rel != CHECKSUMS:
            names.add(rel)
    return names


def _read_json(bundle: Path, name: str) -> Any:
    path = safe_member(bundle, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{bundle}: no {name}; this is not a handoff bundle") from exc
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable ({exc})") from exc


def pack_bundle(bundle: str | os.PathLike[str], archive: str | os.PathLike[str]) -> Path:
    """A .tar.gz of a verified bundle, for moving it between machines."""
    bundle, archive = Path(bundle), Path(archive)
    read_bundle(bundle)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"{bundle.name}/{path.relative_to(bundle).as_posix()}")
    return archive


def unpack_bundle(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Extract a packed bundle under ``dest`` (regular files only, no path leaving ``dest``)."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            tops = set()
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise BundleError(f"{archive}: refusing {member.name!r}: only regular files "
                                      "may be in a bundle archive (no links or devices)")
                safe_member(dest, member.name)
                tops.add(PurePosixPath(member.name).parts[0])
            if len(tops) != 1:
                raise BundleError(f"{archive}: expected one bundle folder, found {sorted(tops)}")
            for member in members:
                target = dest / Path(*PurePosixPath(member.name).parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise BundleError(f"{archive}: cannot read {member.name!r}")
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{archive}: not a readable bundle archive ({exc})") from exc
    bundle = dest / tops.pop()
    read_bundle(bundle)
    return bundle


def open_bundle(path: str | os.PathLike[str], workdir: Path) -> tuple[Path, HandoffManifest]:
    """A bundle folder or a .tar.gz of one -> (verified folder, manifest)."""
    path = Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        folder = unpack_bundle(path, workdir)
        return folder, read_bundle(folder)
    return path, read_bundle(path)
