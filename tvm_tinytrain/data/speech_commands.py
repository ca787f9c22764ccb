"""Speech Commands v0.02 (the 12-class KWS test set), read from either of its forms without
unpacking, and the fixed train/test split this project uses on it.

Two forms: the FLAC tar in ../shared (`speech_commands_test_set_v0.02/<class>/<name>.flac`) and
the official `speech_commands_test_set_v0.02.tar.gz` that `fetch` stores (`./<class>/<name>.wav`
or `<class>/<name>.wav`).  A clip is known by `<class>/<name stem>`, so the clip list, labels,
speakers and split are the same from both, and so are the samples (FLAC is lossless).  The FLAC
tar is uncompressed and read in place, a member at a time; the .tar.gz is not seekable, so it is
decompressed once into memory (~160 MB, capped at MAX_TAR_BYTES) and then read the same way: one
decompression per call instead of a listing pass plus a decoding pass over the stream.

Only the official *test* set (4,890 clips) exists, so it is split here once and for all:
speaker-disjoint (file names are `<speaker>_nohash_<n>.<ext>`; each `_silence_` clip is its
own group) and stratified by class.  Speakers are visited in an order shuffled by
SPLIT_SEED and each one goes to the test side when that brings the per-class test counts
closer to TEST_FRACTION of each class.  The split does not depend on any training seed, so
every experiment is evaluated on the same unseen speakers.
"""
from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

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
WHO = "speech commands"
MAX_TAR_BYTES = 512 << 20   # the official test set is ~160 MB of WAV
MAX_CLIP_BYTES = 4 << 20    # a 1 s clip is ~32 KB
CLIP_NAMES = {  # file name of each form -> the member names of its clips
    "speech_commands_test_set_v0.02_flac.tar":
        re.compile(r"^speech_commands_test_set_v0\.02/(?P<cls>[a-z_]+)/(?P<stem>[^/]+)\.flac$"),
    "speech_commands_test_set_v0.02.tar.gz": re.compile(r"^(?:\./)?(?P<cls>[a-z_]+)/(?P<stem>[^/]+)\.wav$"),
}


@dataclass(frozen=True)
class Clip:
    name: str        # `<class>/<file stem>`: the same clip in either form
    label: int       # index into CLASSES
    speaker: str     # `<speaker>` of the file name; `_silence_/<stem>` for silence clips


def speech_commands_path():
    """The first form found (paths.FORMS order) in the first datasets folder holding one."""
    return find_data("speech-commands", *FORMS["speech-commands"])


class SpeechArchive:
    """An open archive of either form: its clips (in class, then name order) and their audio."""

    def __init__(self, path):
        self.path = path
        self.tar = _gunzip_tar(path) if path.name.endswith(".gz") else open_tar(WHO, path)
        try:
            self.clips, self._members = _list(self.tar, CLIP_NAMES[path.name], path)
        except (tarfile.TarError, OSError, EOFError) as e:
            self.tar.close()
            raise damaged(WHO, path, e) from None
        except TinyTrainError:
            self.tar.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tar.close()

    def decode(self, clip: Clip) -> np.ndarray:
        """The clip's int16 samples (16 kHz mono, checked)."""
        member = self._members[clip.name]
        if member.size > MAX_CLIP_BYTES:
            raise damaged(WHO, self.path, f"{member.name} is {member.size:,} bytes, more than a 1 s clip "
                                          f"({MAX_CLIP_BYTES:,} at most)")
        try:
            data, rate = sf.read(io.BytesIO(self.tar.extractfile(member).read()), dtype="int16")
        except Exception as e:  # soundfile raises its own LibsndfileError, tarfile ReadError / EOFError
            raise damaged(WHO, self.path, f"cannot decode {member.name}: {e}") from None
        if rate != 16000 or data.ndim != 1:
            raise TinyTrainError(f"{WHO}: {member.name} in {self.path} is {rate} Hz with shape {data.shape}; "
                                 f"expected 16 kHz mono")
        return data


def _gunzip_tar(path) -> tarfile.TarFile:
    """The .tar.gz decompressed into memory (at most MAX_TAR_BYTES), opened as a seekable tar."""
    buf = io.BytesIO()
    try:
        with gzip.open(path) as f:
            while chunk := f.read(1 << 20):
                if buf.tell() + len(chunk) > MAX_TAR_BYTES:
                    raise damaged(WHO, path, f"it decompresses to more than {MAX_TAR_BYTES >> 20} MB; the "
                                             f"official test set is ~160 MB")
                buf.write(chunk)
        buf.seek(0)
        return tarfile.open(fileobj=buf)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise damaged(WHO, path, f"not a readable .tar.gz: {e}") from None


def _list(tf: tarfile.TarFile, pattern, path) -> tuple[list[Clip], dict]:
    """Every clip of the archive sorted by (class, stem), and {clip name: member}; member names that
    could point outside the archive's folder, and a clip stored twice, are refused."""
    label_of = {c: i for i, c in enumerate(CLASSES)}
    found = {}
    for member in tf.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise damaged(WHO, path, f"member {member.name!r} is an absolute name or climbs out with '..'")
        m = pattern.match(member.name)
        if not (m and member.isfile() and m["cls"] in label_of):
            continue
        key = (m["cls"], m["stem"])
        if key in found:
            raise damaged(WHO, path, f"{found[key].name} and {member.name} are the same clip")
        found[key] = member
    clips, members = [], {}
    for cls, stem in sorted(found):
        speaker = stem.split("_nohash_")[0] if "_nohash_" in stem else f"{cls}/{stem}"
        clip = Clip(f"{cls}/{stem}", label_of[cls], speaker)
        clips.append(clip)
        members[clip.name] = found[cls, stem]
    return clips, members


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
    with SpeechArchive(speech_commands_path()) as archive:
        missing = sorted(set(CLASSES) - {CLASSES[c.label] for c in archive.clips})
        if missing:
            raise damaged(WHO, archive.path, f"no clips of {', '.join(missing)}")
        clips = split_clips(archive.clips)[split]
        if select is not None:
            clips = select(clips)
        audio = np.zeros((len(clips), CLIP_SAMPLES), np.int16)
        for i, clip in enumerate(tqdm(clips, desc=f"speech-commands {split}", unit="clip",
                                      disable=not progress or len(clips) < 500, leave=False)):
            audio[i] = _fit(archive.decode(clip))
    return audio, np.asarray([c.label for c in clips], np.int64)


def _fit(audio: np.ndarray) -> np.ndarray:
    n = len(audio)
    if n >= CLIP_SAMPLES:
        start = (n - CLIP_SAMPLES) // 2
        return audio[start:start + CLIP_SAMPLES]
    left = (CLIP_SAMPLES - n) // 2
    return np.pad(audio, (left, CLIP_SAMPLES - n - left))
