"""First-party medden plugins: SkidNet, DeepAttention and their stacked pipeline.

Also the X-ray attention paper's shallow encoder-decoder pair (summed vs concatenated skips).
"""
