"""First-party medden plugins: U-Net denoisers (MSE+SSIM residual U-Net, Noise2Noise U-Net, noise-level-aware U-Net)."""
