"""First-party medden plugins: SkidNet, DeepAttention and the X-ray attention paper's shallow encoder-decoders."""
