"""Speech Commands v0.02 (the 12-class KWS test set), read from the FLAC tar without unpacking,
and the fixed train/test split this project uses on it.

Only the official *test* set (4,890 clips) is staged, so it is split here once and for all:
speaker-disjoint (file names are `<speaker>_nohash_<n>.flac`; each `_silence_` clip is its
own group) and stratified by class.  Speakers are visited in an order shuffled by
SPLIT_SEED and each one goes to the test side when that brings the per-class test counts
closer to TEST_FRACTION of each class.  The split does not depend on any training seed, so
every experiment is evaluated on the same unseen speakers.
"""
from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..errors import TinyTrainError
from ..paths import FORMS, damaged, find_data, open_tar

CLASSES = ("_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SPLITS = ("train", "test")
SPLIT_SEED = 0
TEST_FRACTION = 0.3
CLIP_SAMPLES = 16000  # 1 s at 16 kHz
_NAME = re.compile(r"^speech_commands_test_set_v0\.02/(?P<cls>[a-z_]+)/(?P<file>[^/]+)\.flac$")


@dataclass(frozen=True)
class Clip:
    member: str      # path inside the tar
    label: int       # index into CLASSES
    speaker: str     # `<speaker>` of the file name; `_silence_/<file>` for silence clips


def speech_commands_path():
    return find_data("speech-commands", *FORMS["speech-commands"])


def _open():
    return open_tar("speech commands", speech_commands_path())


def list_clips(tf: tarfile.TarFile) -> list[Clip]:
    """Every clip of the archive, in member-name order."""
    label_of = {c: i for i, c in enumerate(CLASSES)}
    clips = []
    for member in sorted(tf.getmembers(), key=lambda m: m.name):
        m = _NAME.match(member.name)
        if not (m and member.isfile() and m["cls"] in label_of):
            continue
        speaker = m["file"].split("_nohash_")[0] if "_nohash_" in m["file"] else f"{m['cls']}/{m['file']}"
        clips.append(Clip(member.name, label_of[m["cls"]], speaker))
    return clips


def split_clips(clips: list[Clip], test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> dict:
    """{"train": [Clip], "test": [Clip]}: speaker-disjoint, per-class test share close to test_fraction."""
    by_speaker: dict[str, np.ndarray] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, np.zeros(len(CLASSES), np.int64))[clip.label] += 1
    target = test_fraction * sum(by_speaker.values())
    test_counts = np.zeros(len(CLASSES))
    test_speakers = set()
    speakers = sorted(by_speaker)
    for i in np.random.default_rng(seed).permutation(len(speakers)):
        counts = by_speaker[speakers[i]]
        if ((test_counts + counts - target) ** 2).sum() < ((test_counts - target) ** 2).sum():
            test_counts += counts
            test_speakers.add(speakers[i])
    return {"train": [c for c in clips if c.speaker not in test_speakers],
            "test": [c for c in clips if c.speaker in test_speakers]}


def load_speech_commands(split: str = "test", progress: bool = True, select=None):
    """(audio int16 (N, 16000), labels int64 (N,)) of one side of the fixed split.

    Clips are padded with zeros (equally on both sides) or centre-cropped to 1 s.  `select`,
    if given, maps the split's list of Clips to the sub-list to decode (the dataset layer uses
    it to pick classes and per-class subsets before paying for decoding).
    """
    if split not in SPLITS:
        raise TinyTrainError(f"load_speech_commands: split must be one of {SPLITS}, got {split!r}")
    with _open() as tf:
        try:
            all_clips = list_clips(tf)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise damaged("speech commands", speech_commands_path(), e) from None
        missing = sorted(set(CLASSES) - {CLASSES[c.label] for c in all_clips})
        if missing:
            raise damaged("speech commands", speech_commands_path(), f"no clips of {', '.join(missing)}")
        clips = split_clips(all_clips)[split]
        if select is not None:
            clips = select(clips)
        audio = np.zeros((len(clips), CLIP_SAMPLES), np.int16)
        for i, clip in enumerate(tqdm(clips, desc=f"speech-commands {split}", unit="clip",
                                      disable=not progress or len(clips) < 500, leave=False)):
            audio[i] = _fit(_decode(tf, clip.member))
    return audio, np.asarray([c.label for c in clips], np.int64)


def _decode(tf, name):
    try:
        data, rate = sf.read(io.BytesIO(tf.extractfile(name).read()), dtype="int16")
    except Exception as e:  # soundfile raises its own LibsndfileError, tarfile ReadError / EOFError
        raise damaged("speech commands", tf.name or speech_commands_path(), f"cannot decode {name}: {e}") from None
    if rate != 16000 or data.ndim != 1:
        raise TinyTrainError(f"speech commands: {name} is {rate} Hz with shape {data.shape}; expected 16 kHz mono")
    return data


def _fit(audio: np.ndarray) -> np.ndarray:
    n = len(audio)
    if n >= CLIP_SAMPLES:
        start = (n - CLIP_SAMPLES) // 2
        return audio[start:start + CLIP_SAMPLES]
    left = (CLIP_SAMPLES - n) // 2
    return np.pad(audio, (left, CLIP_SAMPLES - n - left))
