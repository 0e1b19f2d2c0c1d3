"""Tables and figure of docs/adapt.md from the ``medden evaluate --json`` files of each method.

    python docs/examples/adapt_tables.py scores CASE CLEAN/ OUT_DIR/ LABEL=EVAL.json ... \
        [--figure IMAGE --window W,L --crop PX LABEL=FOLDER ...]
    python docs/examples/adapt_tables.py qc QC_WORK/ OUT_DIR/
    python docs/examples/adapt_tables.py zero-shot ZS_WORK/ OUT_DIR/

``scores`` writes OUT_DIR/CASE.csv (one row per method and image) and OUT_DIR/CASE.md (the
mean of each method: PSNR, SSIM, and for CT the RMSE in HU in the body and the PSNR in the
soft-tissue window W400/L40; the gain in the latter (CT) or in PSNR over --reference), and
with ``--figure`` OUT_DIR/CASE.png: a crop of IMAGE (a relative path in the FOLDERs) from
each method's output and the clean reference.  ``qc`` counts the flags of ``medden denoise
--qc`` in every QC_WORK/s<sigma>/<method>/<modality>/report.json into OUT_DIR/qc.csv and
OUT_DIR/qc.md; ``zero-shot`` tabulates the PSNR and seconds of adapt_zero_shot.sh's WORK/
folder into OUT_DIR/zero_shot.csv and OUT_DIR/zero_shot.md.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from medden.intensity import fit_intensity
from medden.io import read_image

#: Columns of the mean table: (evaluate key, heading, decimals).
COLUMNS = (("psnr", "PSNR dB", 2), ("ssim", "SSIM", 3), ("rmse_hu", "RMSE HU (body)", 1),
           ("psnr_w400", "PSNR W400/L40 dB", 2))


def labelled(items: list[str]) -> list[tuple[str, Path]]:
    """``LABEL=PATH`` arguments as (label, path) pairs, in order."""
    pairs = []
    for item in items:
        label, _, path = item.partition("=")
        pairs.append((label, Path(path)))
    return pairs


def scores(args: argparse.Namespace) -> None:
    """Per-image CSV, mean table (markdown) and optional crop figure of one case."""
    args.out.mkdir(parents=True, exist_ok=True)
    means: dict[str, dict[str, float]] = {}
    with open(args.out / f"{args.case}.csv", "w", newline="") as handle:
        writer = None
        for label, path in labelled(args.evals):
            rows = [row for row in json.loads(path.read_text())["rows"]
                    if row["file"] != "mean"]  # evaluate's last row is the mean
            keys = [k for k, _, _ in COLUMNS if k in rows[0]]
            if writer is None:
                writer = csv.DictWriter(handle, ["method", "file", *keys])
                writer.writeheader()
            for row in rows:
                writer.writerow({"method": label, "file": row["file"],
                                 **{k: round(row[k], 5) for k in keys}})
            means[label] = {k: float(np.mean([row[k] for row in rows])) for k in keys}
            means[label]["images"] = len(rows)
    first = next(iter(means.values()))
    keys = [k for k, _, _ in COLUMNS if k in first]
    heads = [h for k, h, _ in COLUMNS if k in first]
    main = "psnr_w400" if "psnr_w400" in first else "psnr"
    reference = means[args.reference] if args.reference else first
    heading = dict(zip(keys, heads, strict=True))[main]
    lines = ["| method | images | " + " | ".join(heads) + f" | Δ {heading}"
             f" vs {args.reference or 'first row'} |",
             "|---|---|" + "---|" * len(keys) + "---|"]
    for label, mean in means.items():
        cells = [f"{mean[k]:.{d}f}" for k, _, d in COLUMNS if k in mean]
        gain = mean[main] - reference[main]
        lines.append(f"| {label} | {mean['images']} | " + " | ".join(cells) + f" | {gain:+.2f} |")
    (args.out / f"{args.case}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.figure:
        figure(args)


def figure(args: argparse.Namespace) -> None:
    """A crop of one image from every method's output and the clean reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(label, folder / args.figure) for label, folder in labelled(args.folders)]
    panels.append(("clean", args.clean / args.figure))
    reference = read_image(args.clean / args.figure)
    mapping = fit_intensity(reference)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.5))
    for axis, (label, path) in zip(axes, panels, strict=True):
        data = read_image(path).data[0]
        if args.window:  # CT: a display window in HU
            width, level = args.window
            shown = np.clip((data - (level - width / 2)) / width, 0, 1)
        else:
            shown = np.clip(mapping.normalise(data), 0, 1)
        top, left = args.crop_at
        axis.imshow(shown[top:top + args.crop, left:left + args.crop], cmap="gray",
                    vmin=0, vmax=1)
        axis.set_title(label, fontsize=8)
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(args.out / f"{args.case}.png", dpi=80)
    print(f"figure: {args.out / f'{args.case}.png'}")


def qc(args: argparse.Namespace) -> None:
    """Flag counts of every (noise level, method, modality) of a ``--qc`` run."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for report in sorted(args.work.glob("s*/*/*/report.json")):
        level, method, modality = report.parts[-4:-1]
        for entry in json.loads(report.read_text())["files"]:
            if entry.get("status") != "ok":
                continue
            record = entry.get("qc") or {}
            flags = record.get("flags", [])
            rows.append({"sigma": level[1:], "method": method, "modality": modality,
                         "file": Path(entry.get("input", "")).name, "flags": "+".join(flags),
                         "noise_before": round(record.get("noise_before", float("nan")), 3),
                         "noise_after": round(record.get("noise_after", float("nan")), 3),
                         "edge_correlation": round(
                             record.get("residual_edge_correlation", float("nan")), 3),
                         "low_frequency_power": round(
                             record.get("residual_low_frequency_power", float("nan")), 3)})
            total = counts[level[1:], method]
            total["images"] += 1
            total["flagged"] += bool(flags)
            total["flagged " + modality] += bool(flags)
            total["images " + modality] += 1
            for flag in flags:
                total[flag] += 1
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "qc.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    modalities = sorted({row["modality"] for row in rows})
    lines = ["| σ | denoiser | images | flagged | structure | unchanged | flagged per modality |",
             "|---|---|---|---|---|---|---|"]
    for (level, method), total in sorted(counts.items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
        each = ", ".join(f"{m} {total['flagged ' + m]}/{total['images ' + m]}"
                         for m in modalities)
        lines.append(f"| {level} | {method} | {total['images']} | {total['flagged']} | "
                     f"{total['structure']} | {total['unchanged']} | {each} |")
    (args.out / "qc.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def zero_shot(args: argparse.Namespace) -> None:
    """PSNR and seconds of every method on the one image of each modality."""
    rows = []
    for scored in sorted(args.work.glob("eval/*.json")):
        method, _, modality = scored.stem.rpartition("-")
        row = next(r for r in json.loads(scored.read_text())["rows"] if r["file"] != "mean")
        report = args.work / method / modality / "report.json"
        seconds = None
        if report.is_file():
            seconds = next(f["seconds"] for f in json.loads(report.read_text())["files"]
                           if f.get("status") == "ok")
        rows.append({"modality": modality, "method": method, "file": row["file"],
                     "psnr": round(row["psnr"], 2), "ssim": round(row["ssim"], 4),
                     "seconds": seconds})
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "zero_shot.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    order = ["identity", "zero_shot", "zero_shot:features=32", "bm3d:sigma=25", "bundle"]
    methods = sorted(dict.fromkeys(r["method"] for r in rows),
                     key=lambda m: order.index(m) if m in order else len(order))
    modalities = list(dict.fromkeys(r["modality"] for r in rows))
    cell = {(r["modality"], r["method"]): r for r in rows}
    lines = ["| image | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for modality in modalities:
        cells = []
        for method in methods:
            r = cell.get((modality, method))
            cells.append("" if r is None else f"{r['psnr']:.2f} dB" + (
                "" if r["seconds"] is None else f", {r['seconds']:.1f} s"))
        lines.append(f"| {modality} | " + " | ".join(cells) + " |")
    (args.out / "zero_shot.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    """Parse the subcommand and run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("scores")
    table.add_argument("case")
    table.add_argument("clean", type=Path)
    table.add_argument("out", type=Path)
    table.add_argument("evals", nargs="+", metavar="LABEL=EVAL.json")
    table.add_argument("--reference", help="the LABEL the last column compares with")
    table.add_argument("--figure", metavar="IMAGE", help="relative path of the image to show")
    table.add_argument("--folders", nargs="*", default=[], metavar="LABEL=FOLDER")
    table.add_argument("--window", type=lambda s: [float(v) for v in s.split(",")],
                       help="CT display window W,L in HU")
    table.add_argument("--crop", type=int, default=160)
    table.add_argument("--crop-at", type=lambda s: [int(v) for v in s.split(",")],
                       default=[0, 0], help="top,left of the crop")
    table.set_defaults(run=scores)
    flags = commands.add_parser("qc")
    flags.add_argument("work", type=Path)
    flags.add_argument("out", type=Path)
    flags.set_defaults(run=qc)
    single = commands.add_parser("zero-shot")
    single.add_argument("work", type=Path, help="the WORK/ folder of adapt_zero_shot.sh")
    single.add_argument("out", type=Path)
    single.set_defaults(run=zero_shot)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
