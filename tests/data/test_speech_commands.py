"""Speech Commands FLAC tar (../shared): listing, the fixed speaker-disjoint split, decoding.
The official WAV .tar.gz form is tested in test_speech_commands_wav.py."""
import io
import tarfile

import numpy as np
import pytest

from tvm_tinytrain.data import speech_commands as sc
from tvm_tinytrain.errors import TinyTrainError

COUNTS = {"yes": 419, "no": 405, "up": 425, "down": 406, "left": 412, "right": 396, "on": 396, "off": 402,
          "stop": 411, "go": 402, "_silence_": 408, "_unknown_": 408}


@pytest.fixture(scope="module")
def clips():
    with sc.SpeechArchive(sc.speech_commands_path()) as archive:
        return archive.clips


def test_listing(clips):
    assert len(clips) == 4890
    counts = np.bincount([c.label for c in clips], minlength=12)
    assert {name: int(counts[i]) for i, name in enumerate(sc.CLASSES)} == COUNTS
    assert clips[0].speaker.startswith("_silence_/") and clips[0].name == "_silence_/1024"
    assert all("_nohash_" not in c.speaker for c in clips)


def test_split_speaker_disjoint_and_stratified(clips):
    split = sc.split_clips(clips)
    train, test = split["train"], split["test"]
    assert len(train) + len(test) == 4890
    assert not {c.speaker for c in train} & {c.speaker for c in test}
    n_train = np.bincount([c.label for c in train], minlength=12)
    n_test = np.bincount([c.label for c in test], minlength=12)
    share = n_test / (n_train + n_test)
    assert (abs(share - sc.TEST_FRACTION) < 0.05).all(), share
    assert sc.split_clips(clips)["test"] == test                  # fixed
    assert sc.split_clips(clips, seed=1)["test"] != test           # and it is the seed that fixes it


def test_decode_selected(clips):
    audio, labels = sc.load_speech_commands("test", progress=False, select=lambda cs: cs[:3] + cs[-2:])
    assert audio.shape == (5, 16000) and audio.dtype == np.int16 and labels.dtype == np.int64
    assert labels.tolist()[:3] == [0, 0, 0] and labels.tolist()[3:] == [2, 2]  # (class, stem) order: "yes" sorts last
    assert (np.abs(audio).max(axis=1) > 0).all()


def test_fit_pads_and_crops():
    padded = sc._fit(np.ones(10, np.int16))
    assert padded.shape == (16000,) and np.flatnonzero(padded).tolist() == list(range(7995, 8005))
    assert sc._fit(np.arange(16004).astype(np.int16))[0] == 2


def test_corrupt_clip_is_named(tmp_path):
    path = tmp_path / "speech_commands_test_set_v0.02_flac.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("speech_commands_test_set_v0.02/yes/abc_nohash_0.flac")
        info.size = 9
        tf.addfile(info, io.BytesIO(b"not flac!"))
    with sc.SpeechArchive(path) as archive, pytest.raises(TinyTrainError, match="abc_nohash_0.flac"):
        archive.decode(archive.clips[0])
    with pytest.raises(TinyTrainError, match="split"):
        sc.load_speech_commands("val")
