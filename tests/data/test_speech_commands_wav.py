"""Speech Commands' official WAV .tar.gz beside the FLAC tar: the same clips, labels, speakers, split
and samples from both; `./` and plain member names accepted, `..`, absolute names and a clip stored
twice refused; the lookup takes the form of the first datasets folder holding one; damaged archives
named."""
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from data_isolation import only_this_data
from hypothesis import HealthCheck, given, settings, strategies as st
from speech_forms import FLAC, WAV, real_clips, wav_members, write_flac, write_wav

from tvm_tinytrain.data import speech_commands as sc
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.paths import FORMS

SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def clips():
    return real_clips(3)


@pytest.fixture(scope="module")
def members(clips):
    return wav_members(clips)


def listing(path):
    with sc.SpeechArchive(path) as archive:
        return archive.clips


def test_each_form_has_its_member_names():
    assert set(sc.CLIP_NAMES) == {Path(rel).name for rel in FORMS["speech-commands"]}


def test_both_forms_give_the_same_clips_split_and_samples(tmp_path, monkeypatch, clips, members):
    flac_root, wav_root = tmp_path / "flac", tmp_path / "wav"
    write_flac(flac_root / FLAC, clips)
    write_wav(wav_root / WAV, members)
    listed = listing(wav_root / WAV)
    assert listed == listing(flac_root / FLAC) and [c.name for c in listed] == sorted(clips)
    assert len({c.speaker for c in listed}) < len(listed)  # some speakers hold several clips
    split = sc.split_clips(listed)
    assert split["train"] and split["test"]
    for name in ("train", "test"):
        loaded = []
        for root in (flac_root, wav_root):
            only_this_data(monkeypatch, root, tmp_path / "cache")
            loaded.append(sc.load_speech_commands(name, progress=False))
        (audio, labels), (wav_audio, wav_labels) = loaded
        assert np.array_equal(audio, wav_audio) and np.array_equal(labels, wav_labels)
        assert labels.tolist() == [c.label for c in split[name]]
        for k, clip in enumerate(split[name]):  # exactly the samples written, fitted to 1 s
            samples, _ = sf.read(io.BytesIO(clips[clip.name]), dtype="int16")
            assert np.array_equal(wav_audio[k], sc._fit(samples))


@SLOW
@given(data=st.data())
def test_member_order_and_prefix_do_not_change_the_clips(clips, members, data):
    """However the tar orders its members and whichever of `./x` / `x` it uses, the clip list is the same."""
    files = [m for m in members if m[1] is not None]
    renamed = [(name.removeprefix("./") if data.draw(st.booleans()) else "./" + name.removeprefix("./"), body)
               for name, body in files]
    shuffled = data.draw(st.permutations(renamed))
    with tempfile.TemporaryDirectory() as folder:
        got = listing(write_wav(Path(folder) / WAV, shuffled))
    assert [c.name for c in got] == sorted(clips)
    assert [c.label for c in got] == [sc.CLASSES.index(name.split("/")[0]) for name in sorted(clips)]


@pytest.mark.parametrize("bad, match", [
    ("../yes/evil_nohash_0.wav", r"member '\.\./yes/evil_nohash_0.wav' is an absolute name or climbs out"),
    ("./yes/../../evil.wav", r"member '\./yes/\.\./\.\./evil.wav' is an absolute name or climbs out"),
    ("/etc/yes/evil_nohash_0.wav", r"member '/etc/yes/evil_nohash_0.wav' is an absolute name"),
])
def test_names_outside_the_archive_are_refused(tmp_path, members, bad, match):
    path = write_wav(tmp_path / WAV, members + [(bad, members[-1][1])])
    with pytest.raises(TinyTrainError, match=f"{path} is truncated or corrupt .*{match}"):
        listing(path)


def test_a_clip_stored_twice_is_refused(tmp_path, members):
    name, body = members[-1]
    twin = name.removeprefix("./") if name.startswith("./") else "./" + name
    with pytest.raises(TinyTrainError, match="are the same clip"):
        listing(write_wav(tmp_path / WAV, members + [(twin, body)]))


def test_lookup_takes_the_first_root_holding_a_form(tmp_path, monkeypatch, clips, members):
    override, cache = tmp_path / "override", tmp_path / "cache"
    write_flac(cache / "data" / FLAC, clips)
    write_wav(override / WAV, members)
    only_this_data(monkeypatch, override, cache)
    assert sc.speech_commands_path() == override / WAV
    write_flac(override / FLAC, clips)  # within a root, the form listed first (the FLAC copy)
    assert sc.speech_commands_path() == override / FLAC
    only_this_data(monkeypatch, None, cache)
    assert sc.speech_commands_path() == cache / "data" / FLAC


def test_damaged_archives_are_named(tmp_path, monkeypatch, members):
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    path = write_wav(tmp_path / WAV, members)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(TinyTrainError, match=f"{path} is truncated or corrupt .*not a readable .tar.gz"):
        sc.load_speech_commands("test", progress=False)
    write_wav(path, members)
    monkeypatch.setattr(sc, "MAX_TAR_BYTES", 1 << 20)  # a decompression bomb stops at the cap
    with pytest.raises(TinyTrainError, match="decompresses to more than 1 MB"):
        sc.load_speech_commands("test", progress=False)
    monkeypatch.undo()
    only_this_data(monkeypatch, tmp_path, tmp_path / "cache")
    write_wav(path, [m for m in members if not m[0].removeprefix("./").startswith("_silence_/")])
    with pytest.raises(TinyTrainError, match="no clips of _silence_"):
        sc.load_speech_commands("test", progress=False)
    name = members[-1][0]
    write_wav(path, members[:-1] + [(name, b"RIFF not a wav")])
    with sc.SpeechArchive(path) as archive, pytest.raises(TinyTrainError, match=f"cannot decode {name}"):
        archive.decode(next(c for c in archive.clips if name.endswith(f"{c.name}.wav")))
