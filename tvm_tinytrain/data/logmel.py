"""Log-mel spectrogram in numpy: the keyword-spotting front end.

A microcontroller KWS pipeline computes these features on the device before the CNN,
so the front end is plain arithmetic a C port can match: frames of `win` samples every
`hop` samples (no centring or padding, so a 1 s clip at 16 kHz with 30 ms / 20 ms gives
49 frames), a periodic Hann window, |rfft|^2 over `n_fft` points, a triangular HTK-mel
filterbank (`n_mels` bands, `fmin`..`fmax` Hz, unnormalized peaks of 1) and
`log(energy + 1e-6)`.  Audio is scaled to [-1, 1) first (int16 / 32768).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError

SAMPLE_RATE = 16000
WIN, HOP, N_FFT = 480, 320, 512  # 30 ms, 20 ms, next power of two
N_MELS, FMIN, FMAX = 40, 20.0, 8000.0
LOG_FLOOR = 1e-6


def num_frames(n_samples: int, win: int = WIN, hop: int = HOP) -> int:
    return 1 + (n_samples - win) // hop if n_samples >= win else 0


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """float32 (n_fft // 2 + 1, n_mels): triangles equally spaced on the HTK mel scale."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


def log_mel(audio, n_mels: int = N_MELS, win: int = WIN, hop: int = HOP, n_fft: int = N_FFT,
            sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 (frames, n_mels) of int16 audio (n,) or float audio in [-1, 1); (N, frames, n_mels) for (N, n)."""
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2) or audio.shape[-1] < win:
        raise ShapeError(f"log_mel: expected audio shaped (samples,) or (clips, samples) with at least {win} "
                         f"samples, got {audio.shape}")
    x = audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio.astype(np.float32)
    frames = num_frames(x.shape[-1], win, hop)
    starts = np.arange(frames) * hop
    windows = x[..., starts[:, None] + np.arange(win)]  # (..., frames, win)
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)
    power = np.abs(np.fft.rfft(windows * hann, n=n_fft, axis=-1)) ** 2
    energy = power.astype(np.float32) @ mel_filterbank(n_mels, n_fft, sample_rate)
    return np.log(energy + np.float32(LOG_FLOOR)).astype(np.float32)


# int8 features: real = FEATURE_SCALE * (q - FEATURE_ZERO), i.e. [-14.0, 11.5] in 0.1 steps.
# Chosen once from the Speech Commands train split (seed 0): the smallest value is the log
# floor ln(1e-6) = -13.8 (digital silence), the largest 9.6.  A constant, not a per-run
# statistic, so a model pretrained on one class subset reads the features of any other.
FEATURE_SCALE, FEATURE_ZERO = 0.1, 12


def quantize_features(features) -> np.ndarray:
    """int8 codes of log-mel features (same shape)."""
    q = np.round(np.asarray(features, np.float32) / np.float32(FEATURE_SCALE)) + FEATURE_ZERO
    return np.clip(q, -128, 127).astype(np.int8)
