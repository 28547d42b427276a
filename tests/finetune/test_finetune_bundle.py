"""Handoff bundles: checksums, safetensors only, no path leaves the bundle."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from core.errors import ConfigError
from core.models import GateDecision
from finetune import handoff as hb
from finetune.handoff import (
    BundleError,
    ChatTemplateInfo,
    GateRecord,
    HandoffManifest,
    SampleCursor,
    SchedulerState,
)


def make_manifest(**changes) -> HandoffManifest:
    decision = GateDecision(status="fail", reasons=["error rate too high"], dataset_sha256="d" * 64,
                            audit_run_id="audit-1", policy={})
    values = dict(
        run_name="run", base_model="gemma-3-270m", base_config_sha256="b" * 64,
        dataset_path="data.jsonl", dataset_sha256="d" * 64, n_records=4, epoch=0, global_step=1,
        total_steps=3, cursor=SampleCursor(epoch=0, index=2), samples_consumed=2,
        seeds={"seed": 0}, scheduler=SchedulerState(name="cosine", base_lr=2e-4, warmup_steps=1,
                                                    total_steps=3, position=1, next_lr=2e-4),
        config={}, gate=GateRecord(decision=decision, overridden=True, override_reason="pilot"),
        chat_template=ChatTemplateInfo(source="fallback", text="t", sha256="e" * 64),
    )
    values.update(changes)
    return HandoffManifest(**values)


@pytest.fixture
def bundle(tmp_path):
    tmp = hb.new_bundle_dir(tmp_path)
    (tmp / "adapter").mkdir()
    (tmp / "adapter" / "adapter_model.safetensors").write_bytes(b"\x08\x00" + b"w" * 64)
    (tmp / "adapter" / "adapter_config.json").write_text('{"r": 16}')
    return hb.finalize_bundle(tmp, tmp_path / "handoff-step-000001", make_manifest())


def test_a_written_bundle_reads_back(bundle):
    manifest = hb.read_bundle(bundle)
    assert manifest.global_step == 1 and manifest.cursor.index == 2
    assert manifest.gate.override_reason == "pilot"
    sums = json.loads((bundle / hb.CHECKSUMS).read_text())
    assert set(sums) == {"adapter/adapter_model.safetensors", "adapter/adapter_config.json",
                         "handoff.json"}


def test_an_altered_file_fails_its_checksum(bundle):
    path = bundle / "adapter" / "adapter_model.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(BundleError, match="checksum mismatch for adapter/adapter_model"):
        hb.read_bundle(bundle)


def test_bundle_errors_are_core_errors_of_one_line(bundle):
    (bundle / "handoff.json").write_text("{}")
    with pytest.raises(ConfigError) as info:
        hb.read_bundle(bundle)
    assert "\n" not in str(info.value)


def rewrite_checksums(bundle, sums):
    (bundle / hb.CHECKSUMS).write_text(json.dumps(sums))


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/passwd", "adapter/../../x"])
def test_paths_escaping_the_bundle_are_refused(bundle, tmp_path, name):
    (tmp_path / "outside.txt").write_text("secret")
    sums = json.loads((bundle / hb.CHECKSUMS).read_text())
    sums[name] = "0" * 64
    rewrite_checksums(bundle, sums)
    with pytest.raises(BundleError, match="escapes the bundle"):
        hb.read_bundle(bundle)


def test_a_manifest_naming_an_adapter_outside_the_bundle_is_refused(bundle):
    manifest = make_manifest(adapter_dir="../elsewhere")
    (bundle / "handoff.json").write_text(manifest.model_dump_json())
    hb.write_checksums(bundle)
    with pytest.raises(BundleError, match="escapes the bundle"):
        hb.read_bundle(bundle)


def test_symlinks_in_a_bundle_are_refused(bundle, tmp_path):
    (tmp_path / "real.safetensors").write_bytes(b"x")
    os.symlink(tmp_path / "real.safetensors", bundle / "adapter" / "extra.safetensors")
    with pytest.raises(BundleError, match="symlink"):
        hb.read_bundle(bundle)


def test_pickle_files_are_refused_even_with_a_valid_checksum(bundle):
    (bundle / "adapter" / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")
    hb.write_checksums(bundle)
    with pytest.raises(BundleError, match="pickle-format files are never loaded"):
        hb.read_bundle(bundle)


def test_unlisted_files_are_refused(bundle):
    (bundle / "adapter" / "surprise.json").write_text("{}")
    with pytest.raises(BundleError, match="not listed"):
        hb.read_bundle(bundle)


def test_pack_and_unpack_round_trip(bundle, tmp_path):
    archive = hb.pack_bundle(bundle, tmp_path / "bundle.tar.gz")
    folder, manifest = hb.open_bundle(archive, tmp_path / "incoming")
    assert folder == tmp_path / "incoming" / bundle.name
    assert manifest.global_step == 1


def add_member(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("name, kind, link, match", [
    ("b/../../evil.txt", tarfile.REGTYPE, "", "escapes"),
    ("/tmp/evil.txt", tarfile.REGTYPE, "", "escapes"),
    ("b/adapter/link", tarfile.SYMTYPE, "/etc/passwd", "only regular files"),
    ("b/adapter/hard", tarfile.LNKTYPE, "b/handoff.json", "only regular files"),
])
def test_unpacking_refuses_links_and_escaping_paths(tmp_path, name, kind, link, match):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_member(tar, "b/handoff.json", b"{}")
        add_member(tar, name, kind=kind, link=link)
    with pytest.raises(BundleError, match=match):
        hb.unpack_bundle(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_resume_of_an_altered_bundle_fails_with_one_red_line(bundle, tmp_path):
    (bundle / "handoff.json").write_text(make_manifest(global_step=2).model_dump_json())
    data = tmp_path / "data.jsonl"
    data.write_text('{"id": "a", "question": "q?", "answer": "a."}\n')
    done = subprocess.run(
        [sys.executable, "-m", "finetune", "resume", str(bundle), "--model", str(tmp_path),
         "--data", str(data)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "checksum mismatch for handoff.json" in lines[0]
