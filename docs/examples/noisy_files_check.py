"""Score ``medden denoise`` on noisy *files* in the containers scanners and cameras write.

The benchmarks normalise each clean image, add noise to it and denoise it in one process. A
user has a noisy file instead: ``medden denoise`` normalises the noisy values, in the file's
own container and polarity. This script builds such files from a folder of held-out 8-bit
images (``docs/examples/heldout_split.py``) and runs the commands a user runs, each as its own
process::

    medden noise CLEAN NOISY --noise SPEC          (dx, mr; camera noise is drawn here)
    medden denoise NOISY OUT [DENOISE OPTIONS]     (each --run)
    medden evaluate --reference CLEAN --test OUT   (PSNR; the mean is printed)

Kinds (``--kind``):

dx
    12-bit digital radiographs (DICOM DX), stored MONOCHROME2 and, as many CR/DX systems do,
    MONOCHROME1 (the same picture turned round); the noise is ``--noise`` (default photon
    noise at 10,000 photons at white) drawn on the MONOCHROME2 files and turned round for
    the MONOCHROME1 ones, so both hold the same noisy picture. Scores against MONOCHROME2.
mr
    MR magnitude slices as 16-bit DICOM (values × 16), noise ``--noise`` (default 8-coil
    non-central χ noise at SNR 10); ``--zero-border N`` zero-fills a border N pixels wide in
    the clean and the noisy files, as distortion correction or resampling leave it.
camera
    12-bit monochrome camera images in 16-bit TIFF, as fluorescence microscopes write them:
    ``--photons`` photons at each image's brightest pixel (Poisson), gain 8 ADU per photon,
    offset 100 ADU, Gaussian read noise 2 ADU, rounded; the reference is the expected value
    in ADU. Only the images whose three channels agree and whose mean is below 100 of 255
    (gray fluorescence) are used.

Example (docs/benchmarks.md, "Noisy files as a user has them")::

    python docs/examples/heldout_split.py configs/bundles/mri_denoise.yaml /tmp/val_mri --first 12
    python docs/examples/noisy_files_check.py /tmp/val_mri /tmp/files_mr --kind mr \\
        --run "--bundle mri" [--before DIR]

``--before DIR`` (``git archive REV medden plugins | tar -x -C DIR``, ``DIR/bundles`` a link
to the bundles) runs every ``--run`` with that code too.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SOP_CLASSES = {"DX": "1.2.840.10008.5.1.4.1.1.1.1", "MR": "1.2.840.10008.5.1.4.1.1.4"}
DEFAULT_NOISE = {"dx": "poisson:peak=10000", "mr": "mri_coil:coils=8,snr=10"}
SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
GAIN, OFFSET, READ_NOISE = 8.0, 100.0, 2.0


def write_dicom(path: Path, stored: np.ndarray, modality: str, photometric: str,
                bits: int) -> None:
    """A single-frame image of unsigned ``bits``-bit values."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SOP_CLASSES[modality]
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID = modality, "ANON"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelData = np.rint(stored).astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def medden(*args: str, code: Path | None = None) -> str:
    """Run ``medden ARGS`` in its own process (of the code in ``code``, an export of earlier
    code, when given); its standard output."""
    command, env = [sys.executable, "-m", "medden.cli", *args], dict(os.environ)
    if code is not None:  # -P: the current directory (a checkout of the new code) not first
        command.insert(1, "-P")
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(code / "plugins")])
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"medden {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def mean_psnr(reference: Path, test: Path) -> str:
    """The mean PSNR of ``medden evaluate``, or why there is none."""
    lines = medden("evaluate", "--reference", str(reference), "--test", str(test)).splitlines()
    if not lines or not lines[-1].startswith("mean"):
        return "failed"  # the denoise run wrote no image (its report.json says why)
    if len(lines) - 2 != len(list(reference.iterdir())):
        return "partly failed"
    return f"{float(lines[-1].split()[2]):.2f}"


def gray(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), np.float64)


def build_dx(images: list[Path], work: Path, noise: str) -> dict[str, Path]:
    for path in images:
        write_dicom(work / "clean" / f"{path.stem}.dcm", gray(path) / 255 * 4095, "DX",
                    "MONOCHROME2", 12)
    medden("noise", str(work / "clean"), str(work / "noisy"), "--noise", noise, "--quiet")
    for path in sorted((work / "noisy").glob("*.dcm")):
        write_dicom(work / "noisy_monochrome1" / path.name,
                    4095 - pydicom.dcmread(path).pixel_array.astype(np.float64), "DX",
                    "MONOCHROME1", 12)
    return {"MONOCHROME2": work / "noisy", "MONOCHROME1": work / "noisy_monochrome1"}


def zero_border(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` with a zero-filled border ``width`` pixels wide (0: as it is)."""
    if width:
        image = image.copy()
        image[:width], image[-width:], image[:, :width], image[:, -width:] = 0, 0, 0, 0
    return image


def build_mr(images: list[Path], work: Path, noise: str, border: int) -> dict[str, Path]:
    for path in images:
        write_dicom(work / "clean" / f"{path.stem}.dcm", zero_border(gray(path) * 16, border),
                    "MR", "MONOCHROME2", 16)
    medden("noise", str(work / "clean"), str(work / "noisy"), "--noise", noise, "--quiet")
    for path in sorted((work / "noisy").glob("*.dcm")) if border else []:
        noisy = pydicom.dcmread(path).pixel_array.astype(np.float64)
        write_dicom(path, zero_border(noisy, border), "MR", "MONOCHROME2", 16)
    label = f"16-bit DICOM, {border}-pixel zero border" if border else "16-bit DICOM"
    return {label: work / "noisy"}


def build_camera(images: list[Path], work: Path, photons: float) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    for folder in ("clean", "noisy"):
        (work / folder).mkdir(parents=True)
    for path in images:
        rgb = np.asarray(Image.open(path).convert("RGB"), np.float64)
        if np.ptp(rgb, axis=-1).max() > 2 or rgb.mean() > 100:
            continue  # not a gray fluorescence image
        expected = rgb.mean(axis=-1) / max(rgb.max(), 1.0) * photons
        noisy = rng.poisson(expected) * GAIN + OFFSET + rng.normal(0, READ_NOISE, expected.shape)
        for folder, values in (("clean", expected * GAIN + OFFSET), ("noisy", noisy)):
            tifffile.imwrite(work / folder / f"{path.stem}.tif",
                             np.clip(np.rint(values), 0, 4095).astype(np.uint16))
    return {f"{photons:g} photons": work / "noisy"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of 8-bit held-out images")
    parser.add_argument("work", type=Path, help="scratch folder (replaced)")
    parser.add_argument("--kind", choices=("dx", "mr", "camera"), required=True)
    parser.add_argument("--noise", help="noise SPEC for dx and mr (default: see the kinds)")
    parser.add_argument("--photons", type=float, default=30.0, help="camera: photons at white")
    parser.add_argument("--zero-border", type=int, default=0, metavar="N",
                        help="mr: zero-fill a border N pixels wide")
    parser.add_argument("--run", action="append", required=True, metavar="OPTIONS",
                        help="denoise options of one run, e.g. '--bundle mri' (repeatable)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="earlier code (medden/ and plugins/, bundles/ linked) to run too")
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    images = sorted(p for p in args.source.iterdir() if p.suffix.lower() in SUFFIXES)
    if not images:
        parser.error(f"no image in {args.source}")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    if args.kind == "camera":
        inputs = build_camera(images, args.work, args.photons)
    elif args.kind == "dx":
        inputs = build_dx(images, args.work, args.noise or DEFAULT_NOISE["dx"])
    else:
        inputs = build_mr(images, args.work, args.noise or DEFAULT_NOISE["mr"], args.zero_border)
    clean = args.work / "clean"
    print(f"{len(list(clean.iterdir()))} images ({args.kind}); PSNR in dB (medden evaluate)")
    print(f"{'input':<16} {'run':<40} {'PSNR':>7}")
    for label, noisy in inputs.items():
        shown = args.work / "noisy" if label == "MONOCHROME1" else noisy  # the same picture
        print(f"{label:<16} {'noisy':<40} {mean_psnr(clean, shown):>7}")
        runs = [(options, None) for options in args.run]
        if args.before:
            runs += [(f"{options} (before)", args.before) for options in args.run]
        for index, (name, code) in enumerate(runs):
            out = args.work / f"out_{label.replace(' ', '_')}_{index}"
            options = shlex.split(name.removesuffix(" (before)"))
            medden("denoise", str(noisy), str(out), "--quiet", *options, code=code)
            if label == "MONOCHROME1":  # turned round, to score against MONOCHROME2
                for path in sorted(out.glob("*.dcm")):
                    write_dicom(path, 4095 - pydicom.dcmread(path).pixel_array.astype(float),
                                "DX", "MONOCHROME2", 12)
            print(f"{label:<16} {name:<40} {mean_psnr(clean, out):>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
