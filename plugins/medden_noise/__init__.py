"""First-party medden plugins: noise models."""
