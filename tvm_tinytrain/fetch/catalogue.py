"""What `tvm-tinytrain fetch` can bring: every item's files, where each comes from and its checksum.

The checksums are recorded here, not fetched: a download is trusted only if its size and
SHA-256 match these. `rel` is the file's path in a datasets folder (the cache's, a mirror's,
../shared/datasets): the same layout everywhere, so a mirror is any datasets folder served
over HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import TinyTrainError

_TINY_TRAINING = ("https://raw.githubusercontent.com/mit-han-lab/tiny-training/"
                  "7bf8e05bbeebda76cbf2ea2dd596dedee7e3f343/algorithm/assets/mcu_models/")
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_PKL_SOURCE = "the paper's tiny-training repository at a pinned commit; SHA-256 as in shared/datasets/README.md"
_TFDS = "SHA-256 recorded by tensorflow/datasets (url_checksums/{}.txt)"


@dataclass(frozen=True)
class Remote:
    """One file: its original URL, size in bytes, SHA-256, the source of that checksum, and its
    path in a datasets folder."""
    url: str
    size: int
    sha256: str
    source: str
    rel: str


@dataclass(frozen=True)
class Item:
    """A fetchable item: its files, and the folder (in a datasets folder) its loader reads."""
    name: str
    files: tuple[Remote, ...]
    folder: str

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _pkl(name: str, size: int, sha256: str) -> Remote:
    return Remote(_TINY_TRAINING + f"{name}.pkl", size, sha256, _PKL_SOURCE, f"weights/tiny-training-pkl/{name}.pkl")


def _fashion(name: str, size: int, sha256: str) -> Remote:
    return Remote(_FASHION + name, size, sha256, _TFDS.format("fashion_mnist"), f"fashion-mnist/{name}")


ITEMS = {item.name: item for item in (
    # the .pkl files are converted (restricted unpickler) into weights/tiny-training-int8/, what backbones.py loads
    Item("backbones", (
        _pkl("mcunet-5fps", 1_024_367, "4de2e06ed39041fc3609de806461a9e1d1f82f186927474bd9e9b0de756a0f00"),
        _pkl("mbv2-w0.35", 617_519, "310d2871c50a89af9f11928e28418729984c2e402cf68560a19b6cbb75854163"),
        _pkl("proxyless-w0.3", 715_055, "0da06d029506a36e5a5d0822493cdae11f37ba78662f9aca25ba5b3c958cf8e1"),
    ), "weights/tiny-training-int8"),
    # the binary distribution: the Python one is a pickle
    Item("cifar10", (
        Remote("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", 170_052_171,
               "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", _TFDS.format("cifar10"),
               "cifar10/cifar-10-binary.tar.gz"),
    ), "cifar10"),
    Item("fashion-mnist", (
        _fashion("train-images-idx3-ubyte.gz", 26_421_880,
                 "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        _fashion("train-labels-idx1-ubyte.gz", 29_515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        _fashion("t10k-images-idx3-ubyte.gz", 4_422_102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        _fashion("t10k-labels-idx1-ubyte.gz", 5_148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ), "fashion-mnist"),
    Item("speech-commands", (
        Remote("http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz", 112_563_277,
               "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df", _TFDS.format("speech_commands"),
               "speech-commands/speech_commands_test_set_v0.02.tar.gz"),
    ), "speech-commands"),
)}
ALL = "all"


def resolve(names) -> list[Item]:
    """The items `names` ask for, in catalogue order, once each; `all` is every item."""
    unknown = [n for n in names if n != ALL and n not in ITEMS]
    if unknown:
        raise TinyTrainError(f"fetch: unknown item {unknown[0]!r}; the items are {', '.join(ITEMS)} and {ALL}")
    if not names:
        raise TinyTrainError(f"fetch: name what to fetch ({', '.join(ITEMS)} or {ALL}), or list them with --list")
    return [item for name, item in ITEMS.items() if ALL in names or name in names]


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
