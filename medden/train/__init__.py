"""Training engine: recipes, ignite engines and handlers, checkpoints, fine-tuning.

Public API::

    from medden.train import train, load_checkpoint, load_config

    result = train(load_config("configs/xray_attention.yaml", ["epochs=2"]))
    pipeline, info = load_checkpoint(result.best)

See :mod:`medden.train.config` for the configuration keys and :mod:`medden.train.recipes`
for the recipes (noise2clean, noise2noise, staged, two_stage, and the self-supervised
neighbor2neighbor and n2v2 of :mod:`medden.train.self_supervised`).
"""

from medden.train.checkpoint import load_checkpoint, read_checkpoint
from medden.train.config import ConfigError, TrainConfig, config_from_dict, load_config
from medden.train.engine import TrainResult, train
from medden.train.finetune import finetune_config

__all__ = [
    "train",
    "TrainResult",
    "TrainConfig",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "load_checkpoint",
    "read_checkpoint",
    "finetune_config",
]
