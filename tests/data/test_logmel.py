"""Log-mel front end: shapes, a tone lands in its mel band, framing against a plain loop."""
import numpy as np
import pytest

from tvm_tinytrain.data.logmel import (FEATURE_SCALE, FEATURE_ZERO, LOG_FLOOR, log_mel, mel_filterbank,
                                       num_frames, quantize_features)
from tvm_tinytrain.errors import TinyTrainError


def test_one_second_is_49_by_40():
    assert num_frames(16000) == 49
    audio = np.random.default_rng(0).integers(-3000, 3000, 16000).astype(np.int16)
    f = log_mel(audio)
    assert f.shape == (49, 40) and f.dtype == np.float32
    assert log_mel(np.stack([audio, audio])).shape == (2, 49, 40)
    assert log_mel(audio, n_mels=10).shape == (49, 10)


def test_tone_peaks_in_its_band():
    t = np.arange(16000) / 16000
    fb = mel_filterbank()
    for hz in (300.0, 1000.0, 4000.0):
        f = log_mel((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32))
        band = int(np.argmax(f.mean(axis=0)))
        assert fb[int(round(hz * 512 / 16000)), band] > 0, hz  # the tone lies inside the loudest triangle


def test_matches_plain_loop():
    audio = np.random.default_rng(1).normal(0, 0.1, 4000).astype(np.float32)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(480) / 480)
    fb = mel_filterbank().astype(np.float64)
    expected = [np.log(np.abs(np.fft.rfft(audio[s:s + 480] * hann, 512)) ** 2 @ fb + LOG_FLOOR)
                for s in range(0, 4000 - 480 + 1, 320)]
    assert np.allclose(log_mel(audio), np.asarray(expected), atol=1e-3)


def test_silence_is_the_floor_and_quantizes_in_range():
    f = log_mel(np.zeros(16000, np.int16))
    assert np.allclose(f, np.log(LOG_FLOOR))
    q = quantize_features(np.array([np.log(LOG_FLOOR), 0.0, 9.6, 100.0]))
    assert q.dtype == np.int8 and q.tolist() == [-126, FEATURE_ZERO, 108, 127]
    assert FEATURE_SCALE * (-128 - FEATURE_ZERO) < np.log(LOG_FLOOR)


def test_filterbank_covers_the_band():
    fb = mel_filterbank()
    assert fb.shape == (257, 40) and (fb.max(axis=0) > 0.3).all()


def test_too_short():
    with pytest.raises(TinyTrainError, match="480"):
        log_mel(np.zeros(100, np.int16))
