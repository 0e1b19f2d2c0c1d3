"""``medden bundle``: package a trained checkpoint as a MONAI bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from medden.errors import UsageError

REQUIRED = ["name", "version", "changelog", "task", "description", "modality",
            "dicom_modality", "channels", "data_source", "data_type", "references",
            "eval_noise"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bundle`` sub-command."""
    parser = subparsers.add_parser(
        "bundle",
        help="package a trained checkpoint as a MONAI bundle",
        description=(
            "Write a MONAI bundle folder from a medden training checkpoint: models/model.pt "
            "(state_dict), models/model.ts (TorchScript: what medden denoise runs without "
            "importing MONAI), configs/metadata.json, inference.json, train.json and "
            "evaluate.json, all building the network through medden's _target_ paths. "
            "Existing docs/ and LICENSE in the folder are kept. Run it with "
            "'python -m monai.bundle run --config_file BUNDLE/configs/inference.json "
            "--bundle_root BUNDLE --dataset_dir IN --output_dir OUT'."
        ),
    )
    parser.add_argument("checkpoint", type=Path, help="best.pt / last.pt or a run folder")
    parser.add_argument("folder", type=Path, help="bundle folder to write (e.g. bundles/NAME)")
    parser.add_argument("--info", type=Path, required=True, metavar="YAML",
                        help=f"descriptive metadata with keys: {', '.join(REQUIRED)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export the bundle."""
    import yaml

    from medden.bundle import export_bundle

    try:
        info = yaml.safe_load(args.info.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read '{args.info}': {exc.strerror}") from None
    missing = [key for key in REQUIRED if key not in (info or {})]
    if missing:
        raise UsageError(f"'{args.info}' lacks: {', '.join(missing)}")
    folder = export_bundle(args.checkpoint, args.folder, info)
    print(f"bundle written: {folder}")
    return 0
