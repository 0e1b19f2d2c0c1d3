"""First-party medden plugins: baseline denoising networks (CAE, DAE, DnCNN, RED-CNN, ResCNN)."""
