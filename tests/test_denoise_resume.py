"""An interrupted ``medden denoise`` (SIGKILL) leaves no partial file; ``--resume`` finishes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from medden.cli import main

COUNT = 40


def _inputs(folder: Path) -> dict[str, np.ndarray]:
    """Grey PNGs; the expected output of ``median:size=5`` for each (8-bit data is
    normalised by /255, which commutes with the median)."""
    folder.mkdir()
    expected = {}
    for i in range(COUNT):
        pixels = np.random.default_rng(i).integers(0, 256, (96, 96), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.png")
        expected[f"img{i:02d}.png"] = ndimage.median_filter(pixels, size=5, mode="reflect")
    return expected


def test_sigkill_mid_run_then_resume(tmp_path):
    expected = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "medden.cli", "denoise", str(tmp_path / "in"), str(out),
               "--model", "median:size=5", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not any(out.glob("img*.png")) and process.poll() is None:
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()

    written = sorted(p.name for p in out.glob("*.png"))
    assert 0 < len(written) < COUNT
    for name in written:  # whatever exists under its final name is complete
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), expected[name])

    stale = out / ".img39.png.0123abcd.tmp"  # as if killed while writing img39
    stale.write_bytes(b"half a file")
    assert main(["denoise", str(tmp_path / "in"), str(out), "--model", "median:size=5",
                 "--resume", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    status = {f["input"]: f["status"] for f in report["files"]}
    assert sorted(k for k, v in status.items() if v == "skipped") == written
    assert sorted(k for k, v in status.items() if v == "ok") == sorted(
        set(expected) - set(written))
    assert report["options"]["removed_temporaries"] >= 1
    assert sorted(p.name for p in out.iterdir()) == sorted([*expected, "report.json"])
    for name, pixels in expected.items():
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), pixels)
