"""``medden denoise`` across processes: shards, torchrun (gloo), report merge, resume."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medden.cli import main
from medden.io import scan
from medden.shard import Shard, assign

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
#: Report fields that are timings (they differ from run to run).
_TIMES = ("seconds", "throughput")


def _rng_image(seed: int, shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    smooth = 100 + 60 * np.sin(xx / (3 + seed)) * np.cos(yy / 4)
    noise = np.random.default_rng(seed).normal(0, 20, shape[:2])
    image = (smooth + noise).clip(0, 255)
    if len(shape) == 3:
        image = np.stack([image] * shape[2], axis=-1)
    scale = 257 if dtype == np.uint16 else 1
    return (image * scale).astype(dtype)


def _series(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    source = pydicom.dcmread(CT_SMALL)
    series_uid = generate_uid()
    for index in range(count):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        x, y, z = (float(v) for v in source.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 2.5 * index]
        ds.PixelData = (source.pixel_array + 5 * index).astype(np.int16).tobytes()
        ds.save_as(folder / f"slice{index}", enforce_file_format=True)


def _mixed_folder(root: Path, rasters: int = 6, size: int = 40) -> Path:
    """PNG (grey, of several sizes), JPEG (RGB), 16-bit TIFF, NIfTI, two DICOM series, a
    single DICOM file and a text file."""
    for i in range(rasters):
        folder = root / f"part{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rng_image(i, (size + 8 * i, size))).save(folder / f"grey{i}.png")
    Image.fromarray(_rng_image(7, (size, size, 3))).save(root / "part0" / "skin.jpg", quality=90)
    tifffile.imwrite(root / "part1" / "micro.tif", _rng_image(8, (size, size), np.uint16))
    volume = _rng_image(9, (24, 24)).astype(np.int16)[:, :, None].repeat(5, axis=2)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), root / "vol.nii.gz")
    _series(root / "ct_a", 3)
    _series(root / "ct_b", 2)
    single = pydicom.dcmread(CT_SMALL)
    single.SeriesInstanceUID = generate_uid()
    single.save_as(root / "single.dcm", enforce_file_format=True)
    (root / "notes.txt").write_text("not an image")
    return root


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "report.json"}


def _report(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    for key in _TIMES:
        report.pop(key)
    for entry in report["files"]:
        entry.pop("seconds")
    return report


def _assert_same_run(one: Path, other: Path) -> None:
    """Same files, byte for byte (DICOM UIDs included), and the same report but timings."""
    assert _files(one) == _files(other)
    assert _report(one) == _report(other)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The mixed folder and a run over it in one process."""
    root = tmp_path_factory.mktemp("scale")
    data = _mixed_folder(root / "in")
    assert main(["denoise", str(data), str(root / "one"), "--model", "median:size=3",
                 "--quiet"]) == 0
    return root


def _torchrun(*args: str, processes: int = 2, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc_per_node={processes}", "-m", "medden.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kwargs)


def _worker(launcher: int, rank: int) -> int:
    """The process id of a rank started by the torchrun process ``launcher``."""
    children = subprocess.run(["pgrep", "-P", str(launcher)], capture_output=True, text=True)
    for pid in map(int, children.stdout.split()):
        if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return pid
    raise AssertionError(f"no rank {rank} among {children.stdout.split()}")


def test_assign_balances_pixels_and_keeps_groups():
    weights = [100, 10, 10, 10, 10, 60, 5, 5]
    parts = assign(weights, 2)
    loads = [sum(w for w, p in zip(weights, parts, strict=True) if p == s) for s in (0, 1)]
    assert loads == [105, 105] and parts.count(parts[0]) == 2  # 2 files vs 6
    grouped = assign([1, 1, 1, 50], 2, groups=["s", "s", "s", "x"])
    assert grouped[0] == grouped[1] == grouped[2] != grouped[3]
    assert assign(weights, 3) == assign(list(weights), 3)  # deterministic
    assert Shard.parse("1/4") == Shard(1, 4) and str(Shard(1, 4)) == "1/4"
    shards = [Shard(i, 3).owned(weights) for i in range(3)]
    assert sorted(i for owned in shards for i in owned) == list(range(len(weights)))


def test_scan_counts_pixels_from_headers(mixed):
    items = {str(item.relpath): item.pixels for item in scan(mixed / "in").items}
    assert items["part0/grey0.png"] == 40 * 40 and items["part1/grey1.png"] == 48 * 40
    assert items["vol.nii.gz"] == 24 * 24 * 5 and items["ct_a"] == 3 * 128 * 128


def test_the_mixed_run_in_one_process(mixed):
    report = json.loads((mixed / "one" / "report.json").read_text())
    assert report["counts"] == {"ok": 12, "skipped": 1, "failed": 0}
    (record,) = report["throughput"]
    assert record["shard"] == "0/1" and record["images"] == 12
    assert record["pixels"] == sum(item.pixels for item in scan(mixed / "in").items)
    assert set(record["share"]) == {"read", "compute", "write"}
    assert record["images_per_second"] > 0 and record["pixels_per_second"] > 0


def test_shards_and_report_merge_equal_one_process(mixed, capsys):
    out = mixed / "sharded"
    for index in (1, 0):
        main(["denoise", str(mixed / "in"), str(out), "--model", "median:size=3", "--quiet",
              "--shard", f"{index}/2"])
    assert not (out / "report.json").exists()
    assert sorted(p.name for p in out.glob("report.*")) == [
        "report.shard-0-of-2.json", "report.shard-1-of-2.json"]
    shard_counts = [json.loads((out / f"report.shard-{i}-of-2.json").read_text())["counts"]
                    for i in (0, 1)]
    assert all(c["ok"] >= 4 for c in shard_counts)  # both did a fair part
    assert main(["report", "merge", str(out), "--quiet"]) == 0
    _assert_same_run(mixed / "one", out)
    merged = json.loads((out / "report.json").read_text())
    assert [t["shard"] for t in merged["throughput"]] == ["0/2", "1/2"]
    assert main(["report", "merge", str(out)]) == 2  # the shard reports are merged, gone
    assert "no shard reports" in capsys.readouterr().err


def test_report_merge_names_a_missing_shard(mixed, tmp_path, capsys):
    out = tmp_path / "out"
    main(["denoise", str(mixed / "in"), str(out), "--model", "median:size=3", "--quiet",
          "--shard", "2/3"])
    assert main(["report", "merge", str(out)]) == 2
    assert "no report of shard(s) 0, 1 of 3" in capsys.readouterr().err


def test_dicom_uids_are_new_consistent_and_follow_the_settings(mixed, tmp_path):
    source = {pydicom.dcmread(p).SOPInstanceUID for p in (mixed / "in" / "ct_a").iterdir()}
    written = [pydicom.dcmread(p) for p in sorted((mixed / "one" / "ct_a").iterdir())]
    assert len({ds.SeriesInstanceUID for ds in written}) == 1
    assert not {ds.SOPInstanceUID for ds in written} & source
    other = tmp_path / "other"
    main(["denoise", str(mixed / "in" / "ct_a"), str(other), "--model", "median:size=5",
          "--quiet"])
    again = [pydicom.dcmread(p) for p in sorted(other.iterdir()) if p.name != "report.json"]
    assert again[0].SeriesInstanceUID != written[0].SeriesInstanceUID  # other settings


def test_torchrun_two_processes_equal_one_process(mixed):
    out = mixed / "torchrun"
    run = _torchrun("denoise", str(mixed / "in"), str(out), "--model", "median:size=3")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr.decode()
    _assert_same_run(mixed / "one", out)
    report = json.loads((out / "report.json").read_text())
    assert [t["shard"] for t in report["throughput"]] == ["0/2", "1/2"]
    assert all(t["images"] > 0 for t in report["throughput"])
    assert stdout.decode().count("12 ok, 1 skipped, 0 failed") == 1  # rank 0 prints


def test_a_killed_rank_is_completed_by_resume(tmp_path):
    data = tmp_path / "in"
    for i in range(12):
        folder = data / f"d{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rng_image(i, (80, 80))).save(folder / f"img{i:02d}.png")
    model = ["--model", "nl_means:h=10,patch_distance=10"]  # slow enough to kill midway
    assert main(["denoise", str(data), str(tmp_path / "one"), *model, "--quiet"]) == 0
    items = scan(data).items
    rank1 = [tmp_path / "out" / items[i].relpath
             for i in Shard(1, 2).owned([item.pixels for item in items])]
    out = tmp_path / "out"
    run = _torchrun("denoise", str(data), str(out), *model, "--quiet")
    deadline = time.monotonic() + 60
    while not any(p.exists() for p in rank1) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(_worker(run.pid, rank=1), signal.SIGKILL)
    run.communicate(timeout=60)
    assert run.returncode != 0 and not (out / "report.json").exists()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert 0 < len(finished) < 12 and not all(p in finished for p in rank1)
    rerun = _torchrun("denoise", str(data), str(out), *model, "--quiet", "--resume")
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode()
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # not redone
    entries = json.loads((out / "report.json").read_text())["files"]
    assert sum(e["status"] == "skipped" for e in entries) == len(finished)
    assert sum(e["status"] == "ok" for e in entries) == 12 - len(finished)
    assert _files(tmp_path / "one") == _files(out)
