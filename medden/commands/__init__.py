"""Sub-commands of the ``medden`` command line (one module each)."""
