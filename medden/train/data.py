"""Training data: folders of medical images as MONAI datasets of noisy/clean patch pairs.

Images of any format medden reads are loaded by a MONAI :class:`~monai.transforms.MapTransform`
(:class:`LoadNormalisedd`: read, normalise to [0, 1] per modality, convert channels) through
a :class:`~monai.data.CacheDataset`; volumes contribute their slices.  Training samples then
go through MONAI random crops and augmentations and :class:`AddNoised`, which draws noise
from a noise plugin.  :class:`SeededDataset` seeds all of that per ``(seed, epoch, index)``:
fresh patches and noise every epoch, identical for the same seed whatever the process count,
worker count or resumption point.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import CacheDataset, Dataset
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    CopyItemsd,
    EnsureTyped,
    MapTransform,
    RandFlipd,
    Randomizable,
    RandRotate90d,
    RandRotated,
    RandScaleIntensityd,
    RandSpatialCropd,
    RandZoomd,
    Resize,
    SelectItemsd,
    SpatialPadd,
)

from medden.errors import UsageError
from medden.intensity import fit_intensity
from medden.io import ScanItem, scan
from medden.noise import Noise, make_generator
from medden.process import read_item
from medden.train.config import AugmentConfig, DataConfig

__all__ = [
    "LoadNormalisedd",
    "AddNoised",
    "SeededDataset",
    "TrainingData",
    "load_records",
    "split_records",
    "build_data",
    "sample_seed",
]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def sample_seed(*keys: int) -> int:
    """A 32-bit seed derived from integers (e.g. run seed, epoch, sample index)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def convert_channels(array: np.ndarray, channels: int | None) -> np.ndarray:
    """Convert ``(C, ...)`` to ``channels`` (1: luminance of RGB; 3: grey repeated).

    Raises
    ------
    ValueError
        When the conversion is not gray <-> RGB.
    """
    have = array.shape[0]
    if channels is None or have == channels:
        return array
    if have == 1 and channels == 3:
        return np.repeat(array, 3, axis=0)
    if have == 3 and channels == 1:
        return np.tensordot(_LUMA, array, axes=1)[None].astype(np.float32)
    raise ValueError(f"cannot convert {have} channels to {channels}")


class LoadNormalisedd(MapTransform):
    """Read scanned images (any medden format) and normalise them to [0, 1].

    Each key holds a :class:`medden.io.ScanItem`; it is replaced by a float32 array
    ``(C, H, W)`` or ``(C, D, H, W)`` normalised by :func:`medden.intensity.fit_intensity`
    and converted to ``channels``.  A file that cannot be read sets ``"error"`` (with the
    reason) instead of raising, so one bad file does not stop loading.

    Parameters
    ----------
    keys : str or sequence of str
        Keys holding scan items.
    modality : str or None
        Forced normalisation modality; None = detected per image.
    channels : int or None
        Target channel count (1 or 3); None = as stored.
    """

    def __init__(self, keys: KeysCollection, modality: str | None = None,
                 channels: int | None = None) -> None:
        super().__init__(keys)
        self.modality = modality
        self.channels = channels

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Replace every key's scan item by its normalised array."""
        out = dict(data)
        try:
            for key in self.key_iterator(out):
                image = read_item(out[key])
                mapping = fit_intensity(image, self.modality)
                array = np.asarray(mapping.normalise(image.data), dtype=np.float32)
                if not np.isfinite(array).all():
                    raise ValueError("image contains NaN or infinite values")
                out[key] = convert_channels(array, self.channels)
                out[f"{key}_format"] = image.meta.format
        except Exception as exc:  # noqa: BLE001 - reported by load_records, file skipped
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out


class AddNoised(Randomizable, MapTransform):
    """Draw noise from a noise plugin: ``data[dst] = noise(data[src])``.

    The draw uses a :class:`torch.Generator` seeded from the transform's random state, so
    seeding the transform (e.g. through :meth:`monai.transforms.Compose.set_random_state`)
    makes the noise reproducible.

    Parameters
    ----------
    src : str
        Key of the clean image ``(C, *spatial)`` tensor.
    dst : str
        Key receiving the noisy copy.
    noise : Noise
        A noise plugin instance.
    """

    def __init__(self, src: str, dst: str, noise: Noise) -> None:
        MapTransform.__init__(self, [src])
        self.src = src
        self.dst = dst
        self.noise = noise
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        """Draw the generator seed of the next call."""
        self._seed = int(self.R.randint(2**31 - 1))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Add the noisy copy under ``dst``."""
        self.randomize()
        out = dict(data)
        clean = torch.as_tensor(out[self.src], dtype=torch.float32)
        # one image (C, *spatial) as a batch of one: (C, D, H, W) alone would be ambiguous
        out[self.dst] = self.noise(clean.unsqueeze(0), make_generator(self._seed))[0]
        return out


class SeededDataset(Dataset):
    """A MONAI dataset whose random transform is seeded per ``(seed, epoch, index)``.

    Parameters
    ----------
    data : sequence of dict
        Records (already loaded images).
    transform : Compose
        Random transform chain applied on access.
    seed : int
        Run seed.
    repeats : int
        Each record appears this many times per epoch (patches per image).
    vary_by_epoch : bool
        False for validation: the same noise and crops every epoch.
    """

    def __init__(self, data: Sequence[dict], transform: Compose, seed: int,
                 repeats: int = 1, vary_by_epoch: bool = True) -> None:
        super().__init__(list(data) * repeats, transform)
        self.seed = seed
        self.epoch = 0
        self.vary_by_epoch = vary_by_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws :meth:`__getitem__` makes."""
        self.epoch = epoch

    def _transform(self, index: int) -> Any:
        epoch = self.epoch if self.vary_by_epoch else 0
        self.transform.set_random_state(seed=sample_seed(self.seed, epoch, index))
        return self.transform(dict(self.data[index]))


# --- loading ---------------------------------------------------------------------------


def _scan_folder(folder: str) -> list[ScanItem]:
    path = Path(folder)
    if not path.exists():
        raise UsageError(f"data folder '{folder}' does not exist")
    found = scan(path)
    for skipped, reason in found.skipped:
        warnings.warn(f"skipping '{skipped}': {reason}", stacklevel=2)
    if not found.items:
        raise UsageError(f"no readable images in '{folder}'")
    return list(found.items)


def _dicom_patient(item: ScanItem) -> str | None:
    import pydicom

    try:
        dataset = pydicom.dcmread(item.paths[0], stop_before_pixels=True,
                                  specific_tags=["PatientID"])
    except Exception:  # noqa: BLE001 - no patient id: the file is its own group
        return None
    return str(getattr(dataset, "PatientID", "") or "") or None


def _group_of(item: ScanItem, fmt: str, folder_index: int, config: DataConfig) -> str:
    rel = str(item.relpath)
    if config.split_by == "file":
        return f"{folder_index}:{rel}"
    if config.patient_pattern is not None:
        match = re.search(config.patient_pattern, rel)
        if not match or not match.groups():
            raise UsageError(f"data.patient_pattern '{config.patient_pattern}' finds no "
                             f"patient id (first group) in '{rel}'")
        return f"patient:{match.group(1)}"
    if fmt == "dicom":
        patient = _dicom_patient(item)
        if patient is not None:
            return f"patient:{patient}"
    return f"{folder_index}:{rel}"


def _expand_slices(record: dict, keys: list[str], resize: int | None) -> list[dict]:
    """One record per 2-D image: a volume's slices; optionally resized."""
    depth = record["image"].shape[1] if record["image"].ndim == 4 else None
    resizer = Resize((resize, resize), mode="area") if resize else None
    out = []
    for z in range(depth) if depth is not None else [None]:
        item = dict(record)
        for key in keys:
            array = record[key] if z is None else record[key][:, z]
            item[key] = np.asarray(resizer(array)) if resizer else array
        if z is not None:
            item["source"] = f"{record['source']}[{z}]"
        out.append(item)
    return out


def load_records(folders: Sequence[str], config: DataConfig,
                 pair_folders: Sequence[str] = ()) -> list[dict]:
    """Load every image of ``folders`` as 2-D records ``{"image", "group", "source"}``.

    With ``pair_folders`` (one per folder) each record also gets ``"pair"``: the image at
    the same relative path in the paired folder (a second noisy acquisition).

    Raises
    ------
    UsageError
        Missing folder, no readable image, mismatched pairs or channel counts.
    """
    items: list[dict] = []
    for index, folder in enumerate(folders):
        scanned = _scan_folder(folder)
        pairs: dict[str, ScanItem] = {}
        if pair_folders:
            pairs = {str(i.relpath): i for i in _scan_folder(pair_folders[index])}
        for item in scanned:
            record = {"image": item, "source": str(Path(folder) / item.relpath),
                      "item": item, "folder": index}
            if pair_folders:
                if str(item.relpath) not in pairs:
                    raise UsageError(f"no paired image for '{item.relpath}' in "
                                     f"'{pair_folders[index]}'")
                record["pair"] = pairs[str(item.relpath)]
            items.append(record)
    keys = ["image", "pair"] if pair_folders else ["image"]
    loader = LoadNormalisedd(keys, config.modality, config.channels)
    loaded = CacheDataset(items, transform=loader, num_workers=None, progress=False,
                          copy_cache=False)
    records: list[dict] = []
    for record in loaded:
        if "error" in record:
            warnings.warn(f"skipping '{record['source']}': {record['error']}", stacklevel=2)
            continue
        if "pair" in record and record["pair"].shape != record["image"].shape:
            raise UsageError(f"'{record['source']}' and its pair differ in shape: "
                             f"{record['image'].shape} vs {record['pair'].shape}")
        group = _group_of(record.pop("item"), record.pop("image_format"), record.pop("folder"),
                          config)
        record.pop("pair_format", None)
        records.extend(_expand_slices({**record, "group": group}, keys, config.resize))
    if not records:
        raise UsageError(f"no readable images in {', '.join(map(str, folders))}")
    channels = {r["image"].shape[0] for r in records}
    if len(channels) > 1:
        raise UsageError(f"the images have different channel counts {sorted(channels)}; set "
                         "data.channels to 1 or 3 to convert them")
    return records


def split_records(records: list[dict], fraction: float, seed: int,
                  ) -> tuple[list[dict], list[dict]]:
    """Hold out ``fraction`` of the groups (patients or files), chosen by ``seed``.

    At least one group is held out when ``fraction > 0`` and there are two or more.

    Returns
    -------
    train, val : list of dict
    """
    groups = sorted({r["group"] for r in records})
    if fraction <= 0 or len(groups) < 2:
        return records, []
    count = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    order = np.random.default_rng(seed).permutation(len(groups))
    held = {groups[i] for i in order[:count]}
    return ([r for r in records if r["group"] not in held],
            [r for r in records if r["group"] in held])


# --- transform chains ------------------------------------------------------------------


def _augmentations(keys: list[str], augment: AugmentConfig) -> list:
    chain: list = []
    if augment.rotate:
        chain.append(RandRotated(keys, range_x=math.radians(augment.rotate), prob=augment.prob,
                                 padding_mode="reflection"))
    if augment.flip:
        chain += [RandFlipd(keys, prob=augment.prob, spatial_axis=0),
                  RandFlipd(keys, prob=augment.prob, spatial_axis=1)]
    if augment.quarter_turns:
        chain.append(RandRotate90d(keys, prob=augment.prob, max_k=3,
                                   spatial_axes=(-2, -1)))  # in-plane for volumes too
    if augment.zoom is not None:
        chain.append(RandZoomd(keys, prob=augment.prob, min_zoom=augment.zoom[0],
                               max_zoom=augment.zoom[1], padding_mode="reflect"))
    if augment.intensity is not None:  # MONAI scales by (1 + factor)
        chain.append(RandScaleIntensityd(keys, factors=(augment.intensity[0] - 1.0,
                                                        augment.intensity[1] - 1.0),
                                         prob=augment.prob))
    return chain


def _noise_steps(noise: Noise, paired: bool, noisy_target: bool, noisy: bool = False) -> list:
    """Produce ``input`` and ``target`` from ``image`` (and ``pair``)."""
    if paired:  # two real noisy acquisitions: one is the input, the other the target
        return [CopyItemsd(["image", "pair"], names=["input", "target"])]
    if noisy:  # noisy-only images: self-supervised recipes make their own pairs
        return [CopyItemsd("image", times=2, names=["input", "target"])]
    steps: list = [AddNoised("image", "input", noise)]
    if noisy_target:  # Noise2Noise: an independent second realisation as target
        steps.append(AddNoised("image", "target", noise))
    else:
        steps.append(CopyItemsd("image", names="target"))
    return steps


def train_transform(config: DataConfig, noise: Noise, paired: bool,
                    noisy_target: bool) -> Compose:
    """Random patch crop, augmentation and noise for training samples."""
    keys = ["image", "pair"] if paired else ["image"]
    chain: list = [EnsureTyped(keys, track_meta=False)]
    if config.patch_size is not None:
        size = (config.patch_size, config.patch_size)
        # mirrored (numpy's "symmetric": any size; torch's "reflect" fails on images
        # smaller than half the patch)
        chain += [SpatialPadd(keys, size, mode="symmetric"),
                  RandSpatialCropd(keys, size, random_size=False)]
    chain += _augmentations(keys, config.augment)
    chain += [EnsureTyped(keys, track_meta=False),
              *_noise_steps(noise, paired, noisy_target, config.noisy),
              SelectItemsd(["input", "target"])]
    return Compose(chain)


def val_transform(config: DataConfig, noise: Noise, paired: bool) -> Compose:
    """Optional centre crop and noise (fixed per sample) for validation samples.

    The target is the clean image, the second acquisition for paired data, or the noisy
    image itself for noisy-only data (``config.noisy``).
    """
    keys = ["image", "pair"] if paired else ["image"]
    chain: list = [EnsureTyped(keys, track_meta=False)]
    if config.val_crop is not None:
        size = (config.val_crop, config.val_crop)
        chain += [SpatialPadd(keys, size, mode="symmetric"), CenterSpatialCropd(keys, size)]
    chain += [*_noise_steps(noise, paired, noisy_target=False, noisy=config.noisy),
              SelectItemsd(["input", "target"])]
    return Compose(chain)


@dataclass
class TrainingData:
    """Datasets of one run.

    Attributes
    ----------
    train, val : SeededDataset
        Training samples (fresh every epoch) and validation samples (fixed); ``val`` may
        be empty.
    channels : int
        Image channels.
    train_images, val_images : int
        2-D images (slices) in each split.
    val_batch_size : int
        Batch size that validation images allow (1 when their sizes differ).
    """

    train: SeededDataset
    val: SeededDataset
    channels: int
    train_images: int
    val_images: int
    val_batch_size: int


def _uniform_size(records: list[dict]) -> bool:
    return len({r["image"].shape for r in records}) <= 1


def build_data(config: DataConfig, noise: Noise, seed: int, batch_size: int,
               noisy_target: bool) -> TrainingData:
    """Load, split and wrap the images of ``config`` for training and validation.

    Parameters
    ----------
    config : DataConfig
        The ``data`` section.
    noise : Noise
        Noise drawn on the fly (unused for paired noisy acquisitions).
    seed : int
        Run seed (split, patches, augmentation, noise).
    batch_size : int
        Training batch size (to check whole-image batching).
    noisy_target : bool
        Noise2Noise: the target is a second noise realisation instead of the clean image.

    Raises
    ------
    UsageError
        When the data cannot support the run (see :func:`load_records`), or whole images
        of different sizes would have to be batched.
    """
    paired = bool(config.pairs)
    records = load_records(config.train, config, config.pairs)
    if config.val:
        val_records = load_records(config.val, config)
        train_records = records
    else:
        train_records, val_records = split_records(records, config.val_fraction, seed)
    channels = records[0]["image"].shape[0]
    if val_records and val_records[0]["image"].shape[0] != channels:
        raise UsageError("validation and training images have different channel counts; "
                         "set data.channels")
    if config.patch_size is None and batch_size > 1 and not _uniform_size(train_records):
        raise UsageError("training images differ in size; set data.patch_size (random "
                         "patches) or data.resize to batch them")
    val_batch = batch_size if (config.val_crop or _uniform_size(val_records)) else 1
    train = SeededDataset(train_records, train_transform(config, noise, paired, noisy_target),
                          seed, repeats=config.patches_per_image)
    val = SeededDataset(val_records, val_transform(config, noise, paired), seed + 1,
                        vary_by_epoch=False)
    return TrainingData(train, val, channels, len(train_records), len(val_records), val_batch)
