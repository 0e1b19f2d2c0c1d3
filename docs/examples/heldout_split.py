"""Link the validation (held-out) images of a training config into a folder.

The bundles' results are measured on exactly the images their training held out:

    python docs/examples/heldout_split.py configs/bundles/xray_denoise.yaml /tmp/xray_val
    medden benchmark --data /tmp/xray_val --models bundles/xray_denoise bm3d ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medden.train import load_config
from medden.train.data import load_records, split_records


def main() -> None:
    """Create symbolic links to the held-out source files of CONFIG in FOLDER."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("folder", type=Path, help="new folder for the links")
    args = parser.parse_args()
    config = load_config(args.config, [])
    records = load_records(config.data.train, config.data)
    _, held_out = split_records(records, config.data.val_fraction, config.seed)
    args.folder.mkdir(parents=True, exist_ok=False)
    for source in sorted({r["source"] for r in held_out}):
        link = args.folder / Path(source).name
        link.symlink_to(Path(source).resolve())
    print(f"{len(held_out)} held-out images ({args.folder})")


if __name__ == "__main__":
    main()
