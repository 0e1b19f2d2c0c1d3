"""Resource limits of the commands, in a module that imports nothing (``--help`` reads it)."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_PIXELS"]

#: Default of ``--max-pixels``: an input whose headers claim more pixels per channel (a DICOM
#: series: all its slices) fails without being read.  2**30 pixels are 4 GiB as float32.
DEFAULT_MAX_PIXELS = 1 << 30
