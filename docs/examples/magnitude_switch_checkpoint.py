"""Join two trained pipelines into one ``magnitude_switch`` checkpoint, ready for ``medden bundle``.

``mri_denoise`` 0.6.0 runs its earlier network (trained on zero-mean noise) on images with a
black background and a network trained on multi-coil magnitude noise on the others (see
``medden_pipelines.magnitude_switch``). This script writes the two as one checkpoint folder
(``configs/inference.json`` with the switch's SPEC, ``models/model.pt`` with both state
dicts, ``configs/train.json`` with the magnitude network's training config), which
``medden bundle`` exports like any checkpoint:

    python docs/examples/magnitude_switch_checkpoint.py --zero-mean bundles/mri_denoise \
        --magnitude runs/mri_chi/best.pt --out /tmp/mri_switch
    medden bundle --info configs/bundles/mri_denoise.info.yaml /tmp/mri_switch bundles/mri_denoise

Each branch takes its checkpoint's SPEC with ``--zero-mean-params`` / ``--magnitude-params``
added (none by default): a bundle folder's SPEC keeps its noise gate, a training run's needs it
given again (``--zero-mean-params clean_sigma=1.5,noisy_sigma=2.0`` for the MRI bundle).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from medden.spec import Spec, parse_spec
from medden.train import read_checkpoint


def branch(data: dict, extra: dict[str, object]) -> tuple[str, dict[str, torch.Tensor]]:
    """The SPEC (with ``extra`` parameters) and state dict of a read checkpoint."""
    trained = parse_spec(data["run"]["pipeline"])
    return str(Spec(trained.name, {**trained.params, **extra})), data["model"]


def params(text: str) -> dict[str, object]:
    """The parameters of a ``key=value,...`` string (none for an empty one)."""
    return parse_spec(f"x:{text}").params if text else {}


def main() -> None:
    """Write the joined checkpoint folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zero-mean", required=True, help="checkpoint or bundle folder")
    parser.add_argument("--magnitude", required=True, help="checkpoint or bundle folder")
    parser.add_argument("--zero-mean-params", default="",
                        help="parameters added to the zero-mean SPEC, e.g. clean_sigma=1.5")
    parser.add_argument("--magnitude-params", default="",
                        help="parameters added to the magnitude SPEC, e.g. change_limit=3")
    parser.add_argument("--share", type=float, default=0.01,
                        help="share of pixels at or below zero that picks zero_mean")
    parser.add_argument("--out", type=Path, required=True, help="new folder")
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"--out {args.out} exists; give a new folder")
    magnitude = read_checkpoint(args.magnitude)
    zero_spec, zero_state = branch(read_checkpoint(args.zero_mean), params(args.zero_mean_params))
    magnitude_spec, magnitude_state = branch(magnitude, params(args.magnitude_params))
    spec = str(Spec("magnitude_switch", {"zero_mean": zero_spec, "magnitude": magnitude_spec,
                                         "share": args.share}))
    state = {**{f"stages.zero_mean.{k}": v for k, v in zero_state.items()},
             **{f"stages.magnitude.{k}": v for k, v in magnitude_state.items()}}
    (args.out / "configs").mkdir(parents=True, exist_ok=False)
    (args.out / "models").mkdir()
    torch.save(state, args.out / "models" / "model.pt")
    (args.out / "configs" / "inference.json").write_text(
        json.dumps({"network_def": {"spec": spec}}, indent=2))
    training = magnitude["run"].get("config") or {}
    (args.out / "configs" / "train.json").write_text(json.dumps({"training": training},
                                                                indent=2, default=str))
    print(f"{args.out}: {spec}")


if __name__ == "__main__":
    main()
