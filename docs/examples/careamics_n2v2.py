"""Train CAREamics' N2V2 on noisy-only images for a wall-clock budget, predict held-out images.

Run in a separate environment (CAREamics is not a medden dependency; see docs/adapt.md):

    python3.11 -m venv /work/careamics-venv
    /work/careamics-venv/bin/pip install torch==2.13.0   # the CPU wheel first
    /work/careamics-venv/bin/pip install careamics==0.3.5 --no-deps   # then its dependencies
    # but torchvision (see stub_torchvision), as docs/adapt.md lists them
    /work/careamics-venv/bin/python docs/examples/careamics_n2v2.py TRAIN_NPY/ TEST_NPY/ OUT_NPY/ \
        --minutes 15 --threads 1

TRAIN_NPY and TEST_NPY hold float32 .npy images (one 2-D plane each, original units), as
``docs/examples/adapt_study.py npy`` writes them; OUT_NPY gets the predictions under the
same names (``adapt_study.py from-npy`` turns them back into images for ``medden
evaluate``) and ``careamics_run.json``: the CAREamics version, the configuration, the
epochs and steps reached, the seconds trained and predicting.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch


def load(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """(relative path, plane) of every .npy under ``folder``, sorted."""
    return [(p.relative_to(folder), np.load(p).astype(np.float32))
            for p in sorted(folder.rglob("*.npy"))]


def stub_torchvision() -> None:
    """Stand in for torchvision, which CAREamics imports but N2V2 does not use.

    CAREamics 0.3.5 reads ``torchvision.__version__`` (for bioimage.io export) and its LVAE
    models import ``torchvision.transforms.functional``.  The torchvision wheel of the
    package index for torch 2.13 is a CUDA build that cannot load beside the CPU torch
    wheel, so it is not installed; torchmetrics and lightning are imported first, so that
    they see no torchvision and use none, then empty modules take its place.
    """
    import sys
    import types

    import lightning.pytorch  # noqa: F401
    import torchmetrics.functional  # noqa: F401

    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    for name in names:
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules.setdefault(name, module)
    sys.modules["torchvision"].__version__ = "0.28.0 (stub, not installed)"


def main() -> None:
    """Train N2V2 within the budget, predict, write the predictions and the run record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--struct", default="none",
                        choices=["none", "horizontal", "vertical", "cross", "square"],
                        help="structN2V mask (CAREamics' struct_n2v_axes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    stub_torchvision()
    import careamics
    from careamics import CAREamist
    from careamics.config import create_n2v_config, create_structn2v_config
    from lightning.pytorch.callbacks import Callback, Timer

    train = load(args.train)
    test = load(args.test)
    common = {"experiment_name": "medden_comparison", "data_type": "array", "axes": "YX",
              "patch_size": [args.patch, args.patch], "batch_size": args.batch,
              "num_epochs": 100000, "use_n2v2": True}  # the Timer ends the training
    config = (create_n2v_config(**common) if args.struct == "none" else
              create_structn2v_config(**common, struct_n2v_axes=args.struct))
    work = args.out / "careamics_work"
    work.mkdir(parents=True, exist_ok=True)

    class Steps(Callback):
        """Epochs and optimiser steps reached."""

        epochs = 0
        steps = 0

        def on_train_batch_end(self, trainer, *args) -> None:  # noqa: ANN001, ANN002
            Steps.epochs = trainer.current_epoch + (trainer.fit_loop.epoch_loop.batch_progress
                                                    .current.completed
                                                    / max(trainer.num_training_batches, 1))
            Steps.steps = trainer.global_step

    timer = Timer(duration=timedelta(minutes=args.minutes), interval="step")
    careamist = CAREamist(config, work_dir=str(work), callbacks=[timer, Steps()],
                          enable_progress_bar=False)
    started = time.perf_counter()
    careamist.train(train_data=[plane for _, plane in train])
    trained = time.perf_counter() - started
    started = time.perf_counter()
    for relative, plane in test:
        tile = min(256, *plane.shape) // 16 * 16
        outputs, _ = careamist.predict(plane, data_type="array", axes="YX",
                                       tile_size=(tile, tile), tile_overlap=(48, 48))
        prediction = np.asarray(outputs[0])
        target = args.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, prediction.reshape(plane.shape).astype(np.float32))
    predicted = time.perf_counter() - started
    record = {
        "careamics": careamics.__version__, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "minutes": args.minutes,
        "train_images": len(train), "test_images": len(test),
        "epochs": round(Steps.epochs, 2), "steps": Steps.steps,
        "seconds_training": round(trained, 1), "seconds_predicting": round(predicted, 1),
        "config": json.loads(config.model_dump_json()),
    }
    (args.out / "careamics_run.json").write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v for k, v in record.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()
