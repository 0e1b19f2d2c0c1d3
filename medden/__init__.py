"""medden: plugin-based denoising of medical images.

The core defines three registries (noise, models, pipelines) filled from entry points,
the data conventions, medical image I/O, metrics, training and the ``medden`` command.
"""

__version__ = "0.1.0"
