"""Time the whole ``medden denoise`` command with a network and with BM3D, side by side.

Builds a folder of COUNT gray PNG images of SIZE (SIDE or WIDTHxHEIGHT) from the first images of IN
(resized, with seeded Gaussian noise of sigma 15 on the 0-255 scale), then runs, as
separate processes (start-up, reading and writing included)::

    medden denoise FOLDER OUT --bundle xray --quiet --overwrite
    medden denoise FOLDER OUT --model bm3d --quiet --overwrite

interleaved: network, BM3D, network, BM3D, ..., network.  Each BM3D run sits between two
network runs and is compared with their mean, so that both see the same load on a machine
shared with other jobs.  Prints every run's wall time, the 1-minute load average at its
start and, from its report.json, the seconds inside the run over the tree and those spent
computing; then each round's ratio and their median (docs/benchmarks.md).  With ``--before
DIR`` (an export of earlier code: ``git archive REV medden plugins | tar -x -C DIR``, and
``DIR/bundles`` a link to the bundles), every network run is followed by the same run of that
code (``python -P -m medden.cli``), for a before/after comparison::

    python docs/examples/end_to_end_speed.py ../shared/data/xray /tmp/e2e --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def build(source: Path, folder: Path, count: int, size: tuple[int, int],
          sigma: float = 15.0) -> None:
    """Write ``count`` noisy gray PNG images of ``size`` (width, height) made from ``source``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in SUFFIXES)[:count]
    if len(files) < count:
        sys.exit(f"{source} holds {len(files)} images; {count} are needed")
    rng = np.random.default_rng(0)
    for path in files:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L").resize(size, Image.LANCZOS), float)
        noisy = np.clip(np.rint(gray + rng.normal(0.0, sigma, gray.shape)), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{path.stem}.png")


def timed(args: list[str], out: Path, code: Path | None = None) -> dict[str, float]:
    """Run ``medden denoise`` with ``args`` into ``out`` (of the code exported to ``code``
    when given); its wall time, the load at its start, and the run's own seconds and compute
    seconds from ``out/report.json``."""
    script = Path(sys.executable).with_name("medden")  # the console script beside python
    command = [str(script) if script.exists() else "medden"]
    env = dict(os.environ)
    if code is not None:  # -P: the current directory (a checkout of the new code) not first
        command = [sys.executable, "-P", "-m", "medden.cli"]
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(code / "plugins")])
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([*command, "denoise", *args, str(out), "--quiet", "--overwrite"],
                   check=True, env=env)
    wall = time.perf_counter() - start
    throughput = json.loads((out / "report.json").read_text())["throughput"][0]
    return {"wall": wall, "load": load, "tree": throughput["seconds"],
            "compute": throughput["compute"]}


def image_size(text: str) -> tuple[int, int]:
    """``--size``: ``512`` (square) or ``640x524`` (width x height)."""
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of X-ray images")
    parser.add_argument("work", type=Path, help="scratch folder (replaced)")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--size", type=image_size, default=(512, 512),
                        help="SIDE or WIDTHxHEIGHT (default 512)")
    parser.add_argument("--rounds", type=int, default=1, help="BM3D runs (default 1)")
    parser.add_argument("--network", default="--bundle=xray",
                        help="denoise option choosing the network (default --bundle=xray)")
    parser.add_argument("--classical", default="--model=bm3d",
                        help="denoise option choosing the baseline (default --model=bm3d)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="earlier code (medden/ and plugins/) to time after each network run")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    images = args.work / "in"
    build(args.source, images, args.count, args.size)
    networks = ["network"] + (["before"] if args.before else [])
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*networks, "bm3d"]}
    plan = networks + (["bm3d", *networks] * args.rounds)
    option = {"network": args.network, "before": args.network, "bm3d": args.classical}
    print(f"{args.count} images of {args.size[0]}x{args.size[1]}; {os.cpu_count()} CPUs; "
          f"order: {', '.join(plan)}")
    print(f"{'run':<8} {'wall s':>8} {'load':>6} {'tree s':>8} {'compute s':>10}")
    for name in plan:
        record = timed([str(images), option[name]], args.work / f"out_{name}",
                       args.before if name == "before" else None)
        runs[name].append(record)
        print(f"{name:<8} {record['wall']:>8.2f} {record['load']:>6.2f} "
              f"{record['tree']:>8.2f} {record['compute']:>10.2f}", flush=True)
    for network in networks:
        ratios = [bm3d["wall"] / statistics.mean([runs[network][i]["wall"],
                                                  runs[network][i + 1]["wall"]])
                  for i, bm3d in enumerate(runs["bm3d"])]
        print(f"BM3D / {network}, whole command, per round: "
              f"{', '.join(f'{r:.1f}x' for r in ratios)}; "
              f"median {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
