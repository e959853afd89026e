"""Modality-invariant structure maps: phase congruency from a log-Gabor filter bank.

Phase congruency (Kovesi, "Image features from phase congruency", 1999; the
``phasecong3`` formulation) measures how well the Fourier components of a log-Gabor
bank agree in phase at each pixel. It responds to edges and corners whatever the
intensity mapping between two sensors, which is why RIFT-style matching and the dense
refinement of :mod:`modalign.geometry.refine` are built on it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch


@dataclass(frozen=True)
class PhaseConfig:
    """Log-Gabor bank and noise model.

    Attributes:
        scales: number of wavelengths (from ``min_wavelength``, × ``wavelength_multiplier``).
        orientations: filter orientations over 180 degrees.
        sigma_on_f: radial bandwidth (ratio of the Gaussian's sigma to the centre frequency).
        noise_k: noise threshold in standard deviations above the estimated noise energy.
    """

    scales: int = 4
    orientations: int = 6
    min_wavelength: float = 3.0
    wavelength_multiplier: float = 1.6
    sigma_on_f: float = 0.75
    noise_k: float = 1.0


@dataclass(frozen=True)
class PhaseCongruency:
    """Per-image PC products: [H, W] maximum and minimum moments and the [H, W] int
    maximum index map (None when not asked for)."""

    max_moment: np.ndarray
    min_moment: np.ndarray
    index_map: np.ndarray | None


@functools.lru_cache(maxsize=4)
def _log_gabor_bank(height: int, width: int, config: PhaseConfig) -> torch.Tensor:
    """[orientations, scales, H, W] frequency-domain filters (radial × angular), complex64
    as the spectrum they multiply (a real × complex product is twice as slow), kept for
    the last few image sizes (RIFT and refinement reuse them)."""
    fy = scipy.fft.fftfreq(height)[:, None]
    fx = scipy.fft.fftfreq(width)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    theta = np.arctan2(-fy, fx)
    lowpass = 1.0 / (1.0 + (radius / 0.45) ** 30)
    radial = []
    for s in range(config.scales):
        frequency = 1.0 / (config.min_wavelength * config.wavelength_multiplier**s)
        log_gabor = np.exp(
            -(np.log(radius / frequency) ** 2) / (2 * np.log(config.sigma_on_f) ** 2)
        )
        log_gabor *= lowpass
        log_gabor[0, 0] = 0.0
        radial.append(log_gabor)
    angular = []
    sin_theta, cos_theta = np.sin(theta), np.cos(theta)
    for o in range(config.orientations):
        angle = o * np.pi / config.orientations
        ds = sin_theta * np.cos(angle) - cos_theta * np.sin(angle)
        dc = cos_theta * np.cos(angle) + sin_theta * np.sin(angle)
        dtheta = np.minimum(np.abs(np.arctan2(ds, dc)) * config.orientations / 2, np.pi)
        angular.append((np.cos(dtheta) + 1) / 2)
    bank = np.stack([np.stack([r * a for r in radial]) for a in angular]).astype(np.complex64)
    return torch.from_numpy(bank)


def phase_congruency(
    image: np.ndarray, config: PhaseConfig, index_map: bool = True
) -> PhaseCongruency:
    """Kovesi's phase congruency moments and the RIFT maximum index map.

    Args:
        image: [H, W] float32 in [0, 1].
        index_map: also the maximum index map (RIFT's descriptor; the structure maps of
            refinement skip it: 3 of the ~25 passes over an image per orientation).
    """
    height, width = image.shape
    with torch.inference_mode():
        spectrum = torch.fft.fft2(torch.from_numpy(np.ascontiguousarray(image, np.float32)))
        bank = _log_gabor_bank(height, width, config)
        epsilon = 1e-4
        series = (1 - (1 / config.wavelength_multiplier) ** config.scales) / (
            1 - 1 / config.wavelength_multiplier
        )
        # maximum index map: the orientation of the largest amplitude sum (first on ties)
        index = torch.zeros(height, width, dtype=torch.int32)
        best_amplitude = torch.full((height, width), -1.0)
        cov_x, cov_y, cov_xy = (torch.zeros(height, width) for _ in range(3))
        # [scales, H, W] arithmetic runs in place where it can: on two cores each pass over
        # such a tensor costs about as much as the inverse FFT that made it
        for o in range(config.orientations):
            responses = torch.fft.ifft2(spectrum * bank[o])  # [scales, H, W] complex
            even, odd = responses.real.contiguous(), responses.imag.contiguous()
            del responses
            amplitude = torch.mul(even, even).addcmul_(odd, odd).sqrt_()  # 3× faster than abs
            sum_amplitude = amplitude.sum(dim=0)
            if index_map:
                index.masked_fill_(sum_amplitude > best_amplitude, o)
                torch.maximum(best_amplitude, sum_amplitude, out=best_amplitude)
            sum_even, sum_odd = even.sum(dim=0), odd.sum(dim=0)
            norm = torch.sqrt(sum_even**2 + sum_odd**2) + epsilon
            mean_even, mean_odd = sum_even / norm, sum_odd / norm
            # sum over scales of (e·me + o·mo − |e·mo − o·me|); the first two terms sum to
            # (Σe)·me + (Σo)·mo, so only the absolute term needs every scale
            energy = sum_even * mean_even + sum_odd * mean_odd
            energy -= even.mul_(mean_odd).addcmul_(odd, mean_even, value=-1).abs_().sum(dim=0)
            # the noise's Rayleigh median, from every other pixel of each other row
            tau = float(np.median(amplitude[0, ::2, ::2].numpy())) / np.sqrt(np.log(4))
            total_tau = tau * series
            noise = total_tau * np.sqrt(np.pi / 2) + config.noise_k * total_tau * np.sqrt(
                (4 - np.pi) / 2
            )
            energy = (energy - noise).clamp_min_(0)
            spread = (sum_amplitude / (amplitude.amax(dim=0) + epsilon) - 1) / (config.scales - 1)
            weight = torch.sigmoid((spread - 0.5) * 10.0)
            squared = (weight * energy / (sum_amplitude + epsilon)) ** 2  # PC², this orientation
            angle = o * np.pi / config.orientations
            cov_x.add_(squared, alpha=np.cos(angle) ** 2)
            cov_y.add_(squared, alpha=np.sin(angle) ** 2)
            cov_xy.add_(squared, alpha=np.cos(angle) * np.sin(angle))
        cov_x /= config.orientations / 2
        cov_y /= config.orientations / 2
        cov_xy *= 4 / config.orientations
        denominator = torch.sqrt(cov_xy**2 + (cov_x - cov_y) ** 2) + epsilon
        max_moment = ((cov_y + cov_x + denominator) / 2).numpy()
        min_moment = ((cov_y + cov_x - denominator) / 2).numpy()
    return PhaseCongruency(max_moment, min_moment, index.numpy() if index_map else None)
