"""Every architecture trained on the same small budget, then benchmarked side by side.

Each learned model and pipeline that medden ships is trained with
``configs/architecture_budget.yaml`` (X-ray, Gaussian sigma 0-50, MSE, Adam 1e-3, 64²
patches in batches of 16, one CPU thread) for the same wall-clock minutes; multi-stage
pipelines split the minutes over their training phases.  ``medden benchmark`` then scores
every run's best checkpoint next to BM3D (estimated and true sigma) on full-size held-out
X-rays of the same split.  A run folder that already holds a finished run is kept, so the
script can be re-run after an interruption.

Run (about ``len(ENTRIES) x MINUTES`` plus the benchmark)::

    python docs/examples/architecture_budget.py --minutes 4 --images 4 \\
        --out docs/benchmarks/architectures
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "architecture_budget.yaml"

#: Run name -> (pipeline SPEC, recipe, number of training phases).
ENTRIES: dict[str, tuple[str, str, int]] = {
    name: (f"single:model={name}", "noise2clean", 1)
    for name in ("cae", "dae", "fcn_sum", "unet_concat", "skidnet", "deep_attention",
                 "unet_residual", "n2n_unet", "noise_aware_unet", "dncnn", "rescnn",
                 "red_cnn")
} | {
    "skidnet_deep_attention": ("skidnet_deep_attention", "staged", 2),
    "two_stage": ("two_stage", "two_stage", 1),
}


def medden(*arguments: str) -> None:
    """Run a ``medden`` command of this interpreter's environment; raise on failure."""
    executable = Path(sys.executable).with_name("medden")
    print("$ medden " + " ".join(arguments), flush=True)
    subprocess.run([str(executable), *arguments], check=True)


def train(name: str, minutes: float, work: Path) -> Path:
    """Train entry ``name`` for ``minutes`` in total unless its run already finished."""
    pipeline, recipe, phases = ENTRIES[name]
    output = work / name
    if (output / "result.json").exists():
        return output
    medden("train", str(CONFIG), "--set", f"pipeline={pipeline}", "--set", f"recipe={recipe}",
           "--set", f"minutes={minutes / phases}", "--set", f"output={output}")
    return output


def main() -> None:
    """Train every entry, link the held-out images and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="budget per architecture")
    parser.add_argument("--images", type=int, default=4, help="held-out images benchmarked")
    parser.add_argument("--work", type=Path, default=Path("runs/architecture_budget"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/architectures"))
    parser.add_argument("--only", nargs="+", choices=sorted(ENTRIES), help="entries to run")
    args = parser.parse_args()
    runs = [train(name, args.minutes, args.work) for name in args.only or ENTRIES]
    heldout = args.work / "heldout"
    if not heldout.exists():
        subprocess.run([sys.executable, str(REPO / "docs" / "examples" / "heldout_split.py"),
                        str(CONFIG), str(heldout)], check=True)
    medden("benchmark", "--data", str(heldout), "--max-images", str(args.images),
           "--models", "identity", "bm3d", *map(str, runs), "--true-sigma", "bm3d",
           "--noise", "gaussian", "--levels", "15,25,50", "--seed", "0", "--skip",
           "oracle,ablation,curves", "--cost-repeats", "3", "--quiet", "--out", str(args.out))


if __name__ == "__main__":
    main()
