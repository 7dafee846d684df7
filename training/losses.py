"""Generator and discriminator losses. Pure functions on normalised ab ``(b, 2, h, w)``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidcolor.models import ab_histogram


def multiscale_pixel_loss(predictions: list[torch.Tensor], ab: torch.Tensor, weight: torch.Tensor, beta: float = 0.05) -> torch.Tensor:
    """Smooth-L1 at every prediction scale against area-downsampled ground truth.

    Area pooling (not max pooling) so signed ab is not biased. ``weight`` ``(b,)`` scales each
    sample (unrelated references get a small weight: their exact colours are unknowable).
    """
    total = ab.new_zeros(())
    for prediction in predictions:
        target = F.adaptive_avg_pool2d(ab, prediction.shape[-2:])
        per_sample = F.smooth_l1_loss(prediction, target, beta=beta, reduction="none").mean((1, 2, 3))
        total = total + (per_sample * weight).mean()
    return total / len(predictions)


def histogram_loss(prediction: torch.Tensor, reference_histogram: torch.Tensor, bins: int,
                   weight: torch.Tensor | None = None) -> torch.Tensor:
    """Chi-square distance between the output's and the reference's soft ab histograms,
    weighted per sample (``weight`` ``(b,)``; 0 where the reference's palette is not the answer)."""
    hist = ab_histogram(prediction, bins)
    per_sample = (2 * (hist - reference_histogram) ** 2 / (hist + reference_histogram + 1e-6)).sum(1)
    return per_sample.mean() if weight is None else (per_sample * weight).mean()


def chroma_deficit(prediction: torch.Tensor, ab: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """How much less colourful each output is than its ground truth (mean chroma, one-sided), weighted per sample.

    A regression loss hedges towards gray where the colour is uncertain (the mean of several
    plausible colours is less saturated than any of them), which users see as washed-out
    output. Only the shortfall is penalised, so outputs as colourful as the truth feel nothing.
    """
    def mean_chroma(x: torch.Tensor) -> torch.Tensor:
        return (x.pow(2).sum(1) + 1e-8).sqrt().mean((1, 2))

    return (F.relu(mean_chroma(ab) - mean_chroma(prediction)) * weight).mean()


def total_variation(ab: torch.Tensor) -> torch.Tensor:
    return (ab[..., 1:, :] - ab[..., :-1, :]).abs().mean() + (ab[..., :, 1:] - ab[..., :, :-1]).abs().mean()


def discriminator_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()
