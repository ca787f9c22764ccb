"""Small Speech Commands archives in both forms, built from real clips of the FLAC tar in ../shared."""
import gzip
import io
import tarfile

import soundfile as sf

from tvm_tinytrain.data.speech_commands import CLASSES
from tvm_tinytrain.paths import data_root

FLAC = "speech-commands/speech_commands_test_set_v0.02_flac.tar"
WAV = "speech-commands/speech_commands_test_set_v0.02.tar.gz"
FLAC_DIR = "speech_commands_test_set_v0.02/"


def real_clips(per_class: int) -> dict[str, bytes]:
    """{'<class>/<stem>': FLAC bytes}: the first `per_class` clips of each class (name order), plus, for
    each word, a clip of a speaker already taken in another class (so speakers span classes)."""
    with tarfile.open(data_root() / FLAC) as tf:
        names = sorted(m.name for m in tf.getmembers() if m.name.endswith(".flac"))
        chosen = [n for c in CLASSES for n in [n for n in names if n.startswith(f"{FLAC_DIR}{c}/")][:per_class]]
        speakers = {n.rsplit("/", 1)[1].split("_nohash_")[0] for n in chosen if "_nohash_" in n}
        chosen += [n for c in CLASSES[2:] for n in [n for n in names if n.startswith(f"{FLAC_DIR}{c}/")
                                                    and n.rsplit("/", 1)[1].split("_nohash_")[0] in speakers
                                                    and n not in chosen][:1]]
        return {n[len(FLAC_DIR):-len(".flac")]: tf.extractfile(n).read() for n in chosen}


def to_wav(flac: bytes) -> bytes:
    data, rate = sf.read(io.BytesIO(flac), dtype="int16")
    buf = io.BytesIO()
    sf.write(buf, data, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tar_bytes(members: list[tuple[str, bytes | None]]) -> bytes:
    """An uncompressed tar of (name, bytes) in order; None makes a folder entry."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_flac(path, clips: dict[str, bytes]):
    path.parent.mkdir(parents=True, exist_ok=True)
    members = [(FLAC_DIR + "LICENSE", b"CC BY 4.0"), (FLAC_DIR + "README.md", b"test set")]
    path.write_bytes(tar_bytes(members + [(f"{FLAC_DIR}{name}.flac", data) for name, data in clips.items()]))
    return path


def wav_members(clips: dict[str, bytes], dotted=lambda i: i % 2 == 0) -> list[tuple[str, bytes | None]]:
    """The official layout: folder entries, LICENSE, README.md and `[./]<class>/<stem>.wav` (clip i with
    the `./` prefix when dotted(i))."""
    members = [("./", None), ("./LICENSE", b"CC BY 4.0"), ("./README.md", b"test set")]
    members += [(f"./{c}", None) for c in CLASSES]
    return members + [(("./" if dotted(i) else "") + f"{name}.wav", to_wav(data))
                      for i, (name, data) in enumerate(clips.items())]


def write_wav(path, members: list[tuple[str, bytes | None]]):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
    return path
