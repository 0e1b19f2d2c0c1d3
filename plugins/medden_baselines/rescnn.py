"""ResCNN: residual-learning CNN for medical image denoising (Jifara et al. 2019)."""

from __future__ import annotations

from medden_baselines.dncnn import DnCNN

__all__ = ["ResCNN"]


class ResCNN(DnCNN):
    """ResCNN residual medical-image denoiser: a deep CNN with BN predicts the noise.

    The network is a deep feed-forward CNN with batch normalisation that learns the
    residual (noise) image; the denoised image is the noisy input minus that residual.  It
    is the "ResCNN" row of the two-stage paper's comparisons (ref. [20]).

    Source: W. Jifara, F. Jiang, S. Rho, M. Cheng and S. Liu, "Medical image denoising using
    convolutional neural network: a residual learning approach", The Journal of
    Supercomputing 75(2), 704-718, 2019.  Assumed: only the abstract was available to us;
    it describes DnCNN's recipe (residual learning, batch normalisation, feed-forward
    convolutions) applied to medical images, so the layer layout and the defaults (17
    layers, 64 filters of 3×3) are DnCNN's (see :class:`~medden_baselines.dncnn.DnCNN`) and
    should be set to the paper's values where they differ.  The parameters are DnCNN's,
    documented there (``medden list models rescnn`` shows them).
    """
