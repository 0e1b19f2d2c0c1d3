"""First-party pipeline plugins of medden."""
