"""Peak memory (RSS) and throughput of ``medden denoise`` on large inputs.

Builds in a work folder (from the repository's ``samples/``):

* ``radiograph/dx.dcm``: a 4096×4096 12-bit DX radiograph (the sample chest X-ray upsampled
  8×, with Gaussian noise);
* ``ct/series/``: a 512×512×300 CT series (the sample TCIA slice at 300 positions, each
  with its own Gaussian noise), and ``ct_short/series/``: its first slices;
* bundles with *untrained* networks from the registry (random weights: for timing and
  memory only, no trained CT model exists yet).

Each run is ``medden denoise IN OUT ...`` in a child process; the table gives its wall time,
its peak resident memory (``ru_maxrss`` of the child), the time the report attributes to the
inputs (reading, denoising, writing) and slices per second from that time.  Run::

    python docs/examples/denoise_resources.py --work /tmp/medden-resources

``--quick`` uses a 1024×1024 radiograph and 30 CT slices, to try the script out.

The measuring process imports only the standard library and builds the inputs in a child
of its own: a child's ``ru_maxrss`` starts from the resident size of the process it was
forked from, so a parent holding torch would inflate every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def make_radiograph(path: Path, size: int) -> None:
    """A ``size``² 12-bit DX DICOM from the sample chest X-ray (upsampled, noisy)."""
    import numpy as np
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        DigitalXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        generate_uid,
    )
    from scipy import ndimage

    grey = np.asarray(Image.open(SAMPLES / "xray_chest_00026402_000.png").convert("L"))
    big = ndimage.zoom(grey.astype(np.float32), size / grey.shape[0], order=1)
    noisy = big * 16 + np.random.default_rng(0).normal(0, 60, big.shape)
    pixels = np.clip(np.rint(noisy), 0, 4095).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "DX"
    ds.PatientName, ds.PatientID = "Resources^Test", "RESOURCES-1"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def make_ct_series(folder: Path, slices: int) -> None:
    """``slices`` noisy copies of the sample CT slice at 1 mm steps, one series."""
    import copy

    import numpy as np
    import pydicom
    from pydicom.uid import generate_uid

    source = pydicom.dcmread(SAMPLES / "ct_chest_tcga_50_6591.dcm")
    stored = source.pixel_array.astype(np.float32)
    low, high = 0, 2 ** int(source.BitsStored) - 1
    series = generate_uid()
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    x, y, z = (float(v) for v in source.ImagePositionPatient)
    for index in range(slices):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [x, y, z + index]
        noisy = np.clip(np.rint(stored + rng.normal(0, 20, stored.shape)), low, high)
        ds.PixelData = noisy.astype(source.pixel_array.dtype).tobytes()
        ds.save_as(folder / f"slice{index:03d}.dcm", enforce_file_format=True)


def make_bundle(folder: Path, spec: str) -> None:
    """A bundle building ``single:model=SPEC`` through the registry, random weights."""
    import torch

    from medden.registry import pipeline_registry

    (folder / "configs").mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(exist_ok=True)
    config = {"network_def": {"_target_": "medden.registry.pipeline_registry.create",
                              "spec": f"single:model=({spec})"}}
    (folder / "configs" / "inference.json").write_text(json.dumps(config, indent=2))
    (folder / "configs" / "metadata.json").write_text(
        json.dumps({"name": f"untrained {spec}", "version": "timing-only"}))
    torch.manual_seed(0)
    network = pipeline_registry.create(config["network_def"]["spec"])
    torch.save(network.state_dict(), folder / "models" / "model.pt")


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {status}")
    return seconds, usage.ru_maxrss / 1024


SMALL_NET = "dncnn:depth=4,features=16"
BUNDLES = {"dncnn_small": SMALL_NET, "dncnn": "dncnn", "noise_aware_unet": "noise_aware_unet"}


def prepare(work: Path, size: int, slices: int, network_slices: int) -> None:
    """Write the inputs and bundles (run in a child process, see the module docstring)."""
    if not (work / "radiograph" / "dx.dcm").exists():
        make_radiograph(work / "radiograph" / "dx.dcm", size)
    if not (work / "ct").exists():
        make_ct_series(work / "ct" / "series", slices)
    if not (work / "ct_short").exists():
        make_ct_series(work / "ct_short" / "series", network_slices)
    for name, spec in BUNDLES.items():
        make_bundle(work / "bundles" / name, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/medden-resources"))
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    parser.add_argument("--network-slices", type=int, default=4,
                        help="CT slices for the full-size untrained networks (default 4)")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size, slices = (1024, 30) if args.quick else (4096, 300)
    work = args.work
    if args.prepare:
        prepare(work, size, slices, args.network_slices)
        return
    subprocess.run([sys.executable, __file__, "--prepare", *sys.argv[1:]], check=True)
    radiograph, ct, ct_short = work / "radiograph", work / "ct", work / "ct_short"
    small_net = SMALL_NET

    medden = [sys.executable, "-m", "medden.cli", "denoise"]
    runs = [
        ("python -c 'import torch'", None, [sys.executable, "-c", "import torch"]),
        ("medden --help (start-up)", None, [sys.executable, "-m", "medden.cli", "--help"]),
        (f"radiograph {size}² median:size=3", radiograph, ["--model", "median:size=3"]),
        (f"radiograph {size}² untrained {small_net}, tiles 512", radiograph,
         ["--bundle", str(work / "bundles" / "dncnn_small")]),
        (f"CT 512²×{slices} gaussian_filter:sigma=1", ct, ["--model", "gaussian_filter:sigma=1"]),
        (f"CT 512²×{slices} median:size=3", ct, ["--model", "median:size=3"]),
        (f"CT 512²×{slices} untrained {small_net}", ct,
         ["--bundle", str(work / "bundles" / "dncnn_small")]),
        (f"CT 512²×{args.network_slices} untrained dncnn (17×64)", ct_short,
         ["--bundle", str(work / "bundles" / "dncnn")]),
        (f"CT 512²×{args.network_slices} untrained noise_aware_unet", ct_short,
         ["--bundle", str(work / "bundles" / "noise_aware_unet")]),
    ]
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
    print("| run | wall s | peak RSS MiB | report s | slices/s |")
    print("|---|---:|---:|---:|---:|")
    for index, (label, source, options) in enumerate(runs):
        out = work / "out" / str(index)
        if source is None:
            command = options
        else:
            command = [*medden, str(source), str(out), *options, "--overwrite", "--quiet"]
        seconds, rss = measure(command)
        rate, spent = "", ""
        if source is not None:
            report = json.loads((out / "report.json").read_text())
            spent_s = report["seconds"]
            count = sum(max(len(f["files"]), 1) for f in report["files"] if f["status"] == "ok")
            spent, rate = f"{spent_s:.1f}", f"{count / spent_s:.2f}"
        print(f"| {label} | {seconds:.1f} | {rss:.0f} | {spent} | {rate} |", flush=True)


if __name__ == "__main__":
    main()
