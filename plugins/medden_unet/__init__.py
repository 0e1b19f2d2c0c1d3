"""First-party medden plugins: U-Net denoisers.

The MSE+SSIM paper's residual U-Net, the Noise2Noise U-Net and the noise-level-aware U-Net.
"""
