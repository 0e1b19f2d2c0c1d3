"""Transfer learning study: X-ray network fine-tuned to MRI vs the same network from scratch.

The X-ray attention paper (Fig. 6) and the two-stage paper (§III-B) claim that a denoiser
trained on one modality adapts to another with little data.  This script measures it with
medden's own commands, on an equal CPU budget:

1. 20 training slices are picked evenly from the training split of
   ``configs/bundles/mri_denoise.yaml`` (6 more slices of that split are the validation
   set that the runs log); the evaluation slices are that config's held-out split, which
   none of the runs see.
2. Each arm trains for the same wall-clock minutes (``--minutes``, one CPU thread) on
   Gaussian noise of sigma 25 (0-255 scale):

   * ``scratch``: ``medden train`` of the X-ray bundle's network from random weights;
   * ``finetune``: ``medden finetune --from bundles/xray_denoise`` with its default learning
     rate (0.1 x the original);
   * ``finetune_same_lr``: the same fine-tuning at the from-scratch learning rate, so that
     the initial weights are the only difference from ``scratch``.

3. ``medden benchmark`` scores the final weights (``last.pt``) of every arm, the X-ray
   network without any fine-tuning and BM3D given the true sigma on the held-out slices;
   ``validation.png`` plots each arm's validation PSNR against training time.

Run (about 3 x MINUTES + 5 minutes)::

    python docs/examples/transfer_study.py --minutes 10 --work runs/transfer \\
        --out docs/benchmarks/transfer
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from medden.train import load_config
from medden.train.data import load_records, split_records

REPO = Path(__file__).resolve().parents[2]
MRI_CONFIG = REPO / "configs" / "bundles" / "mri_denoise.yaml"
XRAY_CONFIG = REPO / "configs" / "bundles" / "xray_denoise.yaml"
XRAY_BUNDLE = REPO / "bundles" / "xray_denoise"
NOISE = "gaussian:sigma=25"
ARMS = ("scratch", "finetune", "finetune_same_lr")


def medden(*arguments: str) -> None:
    """Run a ``medden`` command of this interpreter's environment; raise on failure."""
    executable = Path(sys.executable).with_name("medden")
    print("$ medden " + " ".join(arguments), flush=True)
    subprocess.run([str(executable), *arguments], check=True)


def link_files(sources: list[str], folder: Path) -> None:
    """Fill a new ``folder`` with symbolic links to ``sources``."""
    folder.mkdir(parents=True, exist_ok=False)
    for source in sources:
        (folder / Path(source).name).symlink_to(Path(source).resolve())


def make_splits(work: Path, n_train: int, n_val: int) -> tuple[Path, Path, Path]:
    """Link training, validation and held-out evaluation slices of the MRI config."""
    config = load_config(str(MRI_CONFIG), [])
    records = load_records(config.data.train, config.data)
    development, held_out = split_records(records, config.data.val_fraction, config.seed)
    sources = sorted({r["source"] for r in development})
    step = len(sources) / (n_train + n_val)
    picked = [sources[int(i * step)] for i in range(n_train + n_val)]
    val = picked[::len(picked) // n_val][:n_val]
    folders = work / "train", work / "val", work / "heldout"
    link_files([source for source in picked if source not in val], folders[0])
    link_files(val, folders[1])
    link_files(sorted({r["source"] for r in held_out}), folders[2])
    return folders


def plot_validation(work: Path, path: Path) -> None:
    """Validation PSNR of every arm against its training time, from the runs' ``log.csv``."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for arm in ARMS:
        with (work / arm / "log.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        axes.plot([float(r["seconds"]) / 60 for r in rows], [float(r["psnr"]) for r in rows],
                  marker=".", label=arm)
    axes.set_xlabel("training time (min, 1 CPU thread)")
    axes.set_ylabel("validation PSNR (dB), MRI, Gaussian σ 25")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    """Train the three arms and benchmark them on the held-out MRI slices."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per arm")
    parser.add_argument("--lr", type=float, default=5e-4, help="from-scratch learning rate")
    parser.add_argument("--train-slices", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("runs/transfer"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/transfer"))
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw validation.png from finished runs")
    args = parser.parse_args()
    if args.plot_only:
        plot_validation(args.work, args.out / "validation.png")
        return
    if args.work.exists():
        shutil.rmtree(args.work)
    train, val, heldout = make_splits(args.work, args.train_slices, 6)
    common = [f"noise={NOISE}", "data.patches_per_image=40", "data.modality=mr",
              f"data.val=[{val}]", "epochs=100000", "performance.threads=1",
              "log.progress=false", "seed=0"]
    sets = [item for value in common for item in ("--set", value)]
    medden("train", str(XRAY_CONFIG), *sets, "--set", "init.weights=null",
           "--set", f"data.train=[{train}]", "--set", f"optimizer.lr={args.lr}",
           "--set", f"minutes={args.minutes}", "--set", f"output={args.work / 'scratch'}")
    for arm, lr in (("finetune", []), ("finetune_same_lr", ["--lr", str(args.lr)])):
        medden("finetune", "--from", str(XRAY_BUNDLE), "--data", str(train),
               "--output", str(args.work / arm), "--minutes", str(args.minutes), *lr, *sets)
    models = ["identity", str(XRAY_BUNDLE), "bm3d:sigma=25"] + [
        str(args.work / arm / "last.pt") for arm in ARMS]
    medden("benchmark", "--data", str(heldout), "--models", *models, "--noise", "gaussian",
           "--levels", "25", "--seed", "0", "--modality", "mr", "--crop", "256",
           "--skip", "oracle,ablation,curves,cost,figures", "--quiet", "--out", str(args.out))
    plot_validation(args.work, args.out / "validation.png")


if __name__ == "__main__":
    main()
