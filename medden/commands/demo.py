"""``medden demo``: noise → denoise → metrics → figure on a folder of sample images."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medden.commands._common import item_generator
from medden.errors import UsageError
from medden.registry import noise_registry, pipeline_registry
from medden.spec import parse_spec

if TYPE_CHECKING:  # torch, the readers and the metrics are imported when the command runs
    from medden.io import MedicalImage, ScanItem
    from medden.process import Operation, Prepare


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="the whole job on sample images: add noise, denoise, score, draw",
        description=(
            "Add noise to every image of SAMPLES, denoise the noisy copies with medden's "
            "default bundles (the one 'medden denoise' chooses for each image) and with a "
            "classical filter (--model, default BM3D), print a table of PSNR against the "
            "clean images and the time each took, and write a clean / noisy / bundle / filter "
            "figure. Writes OUT/noisy, OUT/medden, OUT/classical, OUT/metrics.csv and "
            "OUT/side_by_side.png (previous demo outputs in OUT are replaced)."
        ),
    )
    parser.add_argument("samples", type=Path, help="folder of clean images (e.g. samples/)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="output folder (default demo-output)")
    parser.add_argument("--noise", default="gaussian:sigma=25", metavar="SPEC",
                        help="noise SPEC (default gaussian:sigma=25)")
    parser.add_argument("--model", default="bm3d", metavar="SPEC",
                        help="classical filter shown beside the bundles (default bm3d; needs "
                             "the bm3d extra)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.set_defaults(func=run)


#: The demo's versions of each image: (column title, OUT sub-folder).
_VERSIONS = (("noisy", "noisy"), ("medden", "medden"), ("classical", "classical"))


def _figure_rows(samples: Path, folders: dict[str, Path], scores: dict) -> list:
    from medden.intensity import fit_intensity
    from medden.io import scan
    from medden.io.lossy import find_output
    from medden.process import read_item

    rows = []
    items = {label: {i.key: i for i in scan(folder).items} for label, folder in folders.items()}
    for item in scan(samples).items:
        found = {label: find_output(item, outputs) for label, outputs in items.items()}
        if None in found.values():
            continue
        clean = read_item(item)
        mapping = fit_intensity(clean)
        panels = [("clean", mapping.normalise(clean.data))]
        for label, output in found.items():
            psnr = scores[label].get(item.label, math.nan)
            panels.append((f"{label} {psnr:.2f} dB", mapping.normalise(read_item(output).data)))
        rows.append((item.label, panels))
    return rows


def _bundles_prepare() -> tuple[Prepare, dict[str, Any]]:
    """What ``medden denoise`` does without --bundle/--model: each image's default bundle."""
    from medden.commands.denoise import add_denoiser_arguments, denoising

    parser = argparse.ArgumentParser()
    add_denoiser_arguments(parser)
    return denoising(argparse.Namespace(**vars(parser.parse_args([])), modality=None,
                                        quiet=True))


def _table(scores: dict[str, dict[str, float]], bundles: dict[str, str], model: str,
           seconds: dict[str, float]) -> str:
    """PSNR of every image for each version, and the time each denoiser took (``bundles``:
    the bundle of each image, by file stem)."""
    names = [n for n in scores["noisy"] if n != "mean"] + ["mean"]
    header = ("image", "medden bundle", "noisy", "medden", model)
    rows = [(n, bundles.get(Path(n).stem, ""), *(f"{scores[v].get(n, math.nan):.2f}"
                                      for v, _ in _VERSIONS)) for n in names]
    rows.append(("seconds", "", "", f"{seconds['medden']:.1f}", f"{seconds['classical']:.1f}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]
    return "\n".join(["PSNR (dB) against the clean images", *lines])


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 1 when any sample failed."""
    from medden.evaluation import evaluate_folders
    from medden.figures import side_by_side
    from medden.infer import Denoising
    from medden.process import Operation, process_tree

    if not args.samples.is_dir():
        raise UsageError(f"samples folder '{args.samples}' does not exist")
    noise = noise_registry.create(args.noise)
    runner = Denoising(pipeline_registry.create("single", model=parse_spec(args.model)))
    folders = {label: args.out / sub for label, sub in _VERSIONS}

    def add_noise(image: MedicalImage, item: ScanItem) -> Operation:
        generator = item_generator(args.seed, item.key)
        return Operation(args.noise, lambda t: noise(t.unsqueeze(0), generator)[0],
                         f"synthetic noise ({args.noise})")

    def classical(image: MedicalImage, item: ScanItem) -> Operation:
        return Operation(args.model, lambda t: runner(t, out=t),
                         f"denoised by medden ({args.model})")

    print(f"[1/3] adding {args.noise} to the images of {args.samples}", flush=True)
    reports = [process_tree(args.samples, folders["noisy"], add_noise, command="noise",
                            method=args.noise, existing="overwrite")]
    seconds = {}
    for step, (label, title) in enumerate((("medden", "medden's default bundles"),
                                           ("classical", args.model)), start=2):
        print(f"[{step}/3] denoising with {title}", flush=True)
        start = time.perf_counter()
        prepare, settings = (_bundles_prepare() if label == "medden" else
                              (classical, {"method": args.model}))
        reports.append(process_tree(folders["noisy"], folders[label], prepare,
                                    command="denoise", existing="overwrite", **settings))
        seconds[label] = time.perf_counter() - start
    scores: dict[str, dict[str, float]] = {}
    with (args.out / "metrics.csv").open("w") as handle:
        handle.write("image,version,psnr,ssim\n")
        for label, folder in folders.items():
            rows, problems = evaluate_folders(args.samples, folder)
            for name, reason in problems:
                print(f"{label} {name}: not scored: {reason}")
            scores[label] = {r["file"]: r["psnr"] for r in rows}
            handle.writelines(f"{r['file']},{label},{r['psnr']:.4f},{r['ssim']:.4f}\n"
                              for r in rows)
    # by stem: a noisy copy of a JPEG is a PNG
    bundles = {Path(r.input).stem: (r.model or "").removeprefix("bundle ")
               for r in reports[1].results}
    print(f"noise {args.noise}")
    print(_table(scores, bundles, args.model, seconds))
    figure = side_by_side(_figure_rows(args.samples, folders, scores),
                          args.out / "side_by_side.png")
    print(f"figure: {figure}")
    failed = sum(len(r.failed) for r in reports)
    if failed:
        print(f"{failed} image(s) failed; see {args.out}/*/report.json")
    return 1 if failed else 0
