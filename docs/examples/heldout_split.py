"""Link the validation (held-out) images of a training config into a folder.

The bundles' results are measured on exactly the images their training held out:

    python docs/examples/heldout_split.py configs/bundles/xray_denoise.yaml /tmp/xray_val
    medden benchmark --data /tmp/xray_val --models bundles/xray_denoise bm3d ...

``--group folder`` links each image into a subfolder named after the folder it comes from
(``skin/``, ``microscopy/``), so that the benchmark gives each its own table;
``--group prefix`` groups by the file name's part before its first ``_`` (the tumour class
of the MRI slices) without subfolders; ``--first N`` keeps only the first N images (sorted
by name) of each group, or of the split when there is no ``--group``, and ``--skip N``
leaves out the first N (``--skip 5`` links the images ``--first 5`` does not).
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
    parser.add_argument("--group", choices=["folder", "prefix"],
                        help="folder: one subfolder per source folder (e.g. skin/, "
                        "microscopy/); prefix: group by the file name's part before '_'")
    parser.add_argument("--first", type=int, metavar="N",
                        help="only the first N images (by name) of each group")
    parser.add_argument("--skip", type=int, default=0, metavar="N",
                        help="leave out the first N images (by name) of each group")
    args = parser.parse_args()
    config = load_config(args.config, [])
    records = load_records(config.data.train, config.data)
    _, held_out = split_records(records, config.data.val_fraction, config.seed)
    groups: dict[str, list[Path]] = {}
    for source in sorted({Path(r["source"]) for r in held_out}, key=lambda p: p.name):
        key = {"folder": source.parent.name, "prefix": source.name.split("_")[0],
               None: ""}[args.group]
        groups.setdefault(key, []).append(source)
    if args.folder.exists():
        raise SystemExit(f"{args.folder} exists: give a new folder")
    args.folder.mkdir(parents=True)
    linked = 0
    for key, sources in groups.items():
        folder = args.folder / key if args.group == "folder" else args.folder
        folder.mkdir(exist_ok=True)
        first = None if args.first is None else args.skip + args.first
        for source in sources[args.skip:first]:
            link = folder / source.name
            if link.is_symlink():
                raise SystemExit(f"{source} and {link.resolve()} have the same name: "
                                 "use --group folder")
            link.symlink_to(source.resolve())
            linked += 1
    print(f"{len(held_out)} held-out images, {linked} linked ({args.folder})")


if __name__ == "__main__":
    main()
