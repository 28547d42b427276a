"""Handoff bundles load only safetensors, never unpack outside their folder, and fail clearly
on a checksum mismatch (finetune/handoff.py, the public bundle API)."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from finetune.handoff import (
    ADAPTER_DIR,
    CHECKSUMS,
    BundleError,
    ChatTemplateInfo,
    GateRecord,
    HandoffManifest,
    SampleCursor,
    SchedulerState,
    finalize_bundle,
    new_bundle_dir,
    open_bundle,
    pack_bundle,
    read_bundle,
    unpack_bundle,
    write_checksums,
)


def make_bundle(parent: Path, name: str = "bundle") -> Path:
    tmp = new_bundle_dir(parent)
    adapter = tmp / ADAPTER_DIR
    adapter.mkdir()
    save_file({"base_model.model.layers.0.q_proj.lora_A.weight": np.ones((4, 8), np.float32)},
              str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "peft_type": "LORA"}))
    manifest = HandoffManifest(
        run_name="r", base_model="gemma-3-270m", base_config_sha256="0" * 64,
        dataset_path="d.jsonl", dataset_sha256="1" * 64, n_records=3, epoch=0, global_step=2,
        total_steps=6, cursor=SampleCursor(epoch=0, index=2), samples_consumed=2,
        seeds={"data": 0}, scheduler=SchedulerState(name="cosine", base_lr=2e-4, warmup_steps=0,
                                                    total_steps=6, position=2, next_lr=1e-4),
        config={}, gate=GateRecord(), chat_template=ChatTemplateInfo(source="fallback", text="t",
                                                                     sha256="2" * 64))
    return finalize_bundle(tmp, parent / name, manifest)


def tar_with(archive: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return archive


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_a_sound_bundle_round_trips(tmp_path):
    bundle = make_bundle(tmp_path)
    assert read_bundle(bundle).global_step == 2
    archive = pack_bundle(bundle, tmp_path / "b.tar.gz")
    folder, manifest = open_bundle(archive, tmp_path / "unpacked")
    assert manifest.global_step == 2 and folder.parent == tmp_path / "unpacked"


def test_checksum_mismatch_is_one_clear_error(tmp_path):
    bundle = make_bundle(tmp_path)
    weights = bundle / ADAPTER_DIR / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BundleError, match="checksum mismatch") as caught:
        read_bundle(bundle)
    assert "\n" not in str(caught.value)


def test_pickle_files_are_never_loaded(tmp_path):
    bundle = make_bundle(tmp_path)
    evil = bundle / ADAPTER_DIR / "adapter_model.bin"
    evil.write_bytes(pickle.dumps({"x": 1}))
    write_checksums(bundle)  # even listed with a correct checksum, it is refused
    with pytest.raises(BundleError, match="pickle"):
        read_bundle(bundle)


def test_adapter_must_be_safetensors(tmp_path):
    bundle = make_bundle(tmp_path)
    (bundle / ADAPTER_DIR / "adapter_model.safetensors").unlink()
    (bundle / ADAPTER_DIR / "adapter_model.pt").write_bytes(pickle.dumps([0.0]))
    write_checksums(bundle)
    with pytest.raises(BundleError, match="pickle|adapter_model.safetensors"):
        read_bundle(bundle)


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/absolute-escape.txt",
                                  "bundle/../../escaped.txt"])
def test_unpacking_refuses_paths_escaping_the_bundle(tmp_path, name):
    archive = tar_with(tmp_path / "evil.tar.gz", [file_member("bundle/handoff.json", b"{}"),
                                                  file_member(name, b"owned")])
    dest = tmp_path / "dest"
    with pytest.raises(BundleError, match="escapes"):
        unpack_bundle(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_unpacking_refuses_links(tmp_path):
    link = tarfile.TarInfo("bundle/adapter")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    archive = tar_with(tmp_path / "link.tar.gz", [file_member("bundle/handoff.json", b"{}"),
                                                  (link, None)])
    with pytest.raises(BundleError, match="regular files"):
        unpack_bundle(archive, tmp_path / "dest")


def test_checksum_list_cannot_point_outside(tmp_path):
    bundle = make_bundle(tmp_path)
    (tmp_path / "outside.txt").write_text("x")
    sums = json.loads((bundle / CHECKSUMS).read_text())
    sums["../outside.txt"] = "0" * 64
    (bundle / CHECKSUMS).write_text(json.dumps(sums))
    with pytest.raises(BundleError, match="escapes"):
        read_bundle(bundle)
