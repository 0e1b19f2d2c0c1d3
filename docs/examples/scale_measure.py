"""Measure ``medden denoise`` in 1 and 2 processes on a folder of mixed images (docs/scale.md).

Builds a folder of >= 200 images from ``samples/`` (PNG, JPEG, 16-bit TIFF, NIfTI volumes,
DICOM CT series; several sizes), denoises it in one process and under ``torchrun
--nproc_per_node=2`` (gloo), checks that both give the same files and report, and prints
wall time, speed-up, throughput and the read / compute / write shares of every process:

    python docs/examples/scale_measure.py samples /tmp/scale --model median:size=5
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.uid import generate_uid

_SIZES = (192, 256, 320, 384, 512)


def _resized(path: Path, edge: int, mode: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert(mode).resize((edge, edge * 3 // 4))


def build(samples: Path, folder: Path, copies: int = 50) -> int:
    """Write ``copies`` images of each kind into ``folder``; return the number of files."""
    for i in range(copies):
        edge = _SIZES[i % len(_SIZES)]
        rasters = folder / f"rasters{i % 4}"
        rasters.mkdir(parents=True, exist_ok=True)
        _resized(samples / "xray_chest_00026402_000.png", edge, "L").save(
            rasters / f"xray{i:03d}.png")
        _resized(samples / "skin_dermoscopy_isic_0000000.jpg", edge, "RGB").save(
            rasters / f"skin{i:03d}.jpg", quality=92)
        micro = np.asarray(_resized(samples / "microscopy_stained_a31deaf0ac279d5f.png",
                                    edge, "L"), dtype=np.uint16) * 257
        tifffile.imwrite(rasters / f"micro{i:03d}.tif", micro)
    mri = np.asarray(_resized(samples / "mri_brain_t1ce_0_1000.jpg", 256, "L"), np.int16)
    for i in range(copies // 4):
        volume = np.stack([np.roll(mri, 3 * z, axis=1) for z in range(4 + i % 4)], axis=-1)
        nib.save(nib.Nifti1Image(volume.transpose(1, 0, 2), np.eye(4)),
                 folder / f"mri{i:02d}.nii.gz")
    source = pydicom.dcmread(samples / "ct_chest_tcga_50_6591.dcm")
    for s in range(copies // 10):
        series, uid = folder / f"ct{s}", generate_uid()
        series.mkdir(parents=True, exist_ok=True)
        for z in range(10):
            ds = copy.deepcopy(source)
            ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            x, y, z0 = (float(v) for v in source.ImagePositionPatient)
            ds.ImagePositionPatient = [x, y, z0 + 2.5 * z]
            ds.save_as(series / f"slice{z:02d}.dcm", enforce_file_format=True)
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def _shares(report: dict) -> str:
    return "; ".join(
        f"{t['shard']}: {t['images']} images, {t['images_per_second']:.2f} images/s, "
        f"{t['pixels_per_second'] / 1e6:.2f} Mpx/s, read {t['share']['read']:.0%} "
        f"compute {t['share']['compute']:.0%} write {t['share']['write']:.0%}"
        for t in report["throughput"])


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "report.json"}


def main() -> None:
    """Build the folder, run 1 and 2 processes, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path)
    parser.add_argument("work", type=Path, help="scratch folder (replaced)")
    parser.add_argument("--model", default="median:size=5")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    files = build(args.samples, args.work / "in")
    medden = [sys.executable, "-m", "medden.cli", "denoise", str(args.work / "in")]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    one = _run([*medden, str(args.work / "one"), "--model", args.model, "--quiet"])
    two = _run([*torchrun, "--nproc_per_node=2", *medden[1:], str(args.work / "two"),
                "--model", args.model, "--quiet"])
    reports = [json.loads((args.work / d / "report.json").read_text()) for d in ("one", "two")]
    same = _outputs(args.work / "one") == _outputs(args.work / "two")
    print(f"{files} files, {reports[0]['counts']}; outputs identical: {same}")
    print(f"load average: {os.getloadavg()}")
    for label, seconds, report in (("1 process", one, reports[0]),
                                   ("2 processes", two, reports[1])):
        print(f"{label}: {seconds:.1f} s wall (command, start-up included); {_shares(report)}")
    print(f"speed-up: {one / two:.2f}")


if __name__ == "__main__":
    main()
