"""First-party medden plugins: two-stage noise-estimation + reconstruction networks."""
