"""First-party classical denoisers of medden (scikit-image / SciPy / optional bm3d)."""
