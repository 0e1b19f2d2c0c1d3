"""medden's zero-shot denoiser: a tiny network fitted to the one image it is given."""
