"""The 20 labelled foolbox originals per dataset, for smoke tests and accuracy sanity checks.

Read straight from `samples/foolbox_3.3.4_samples.tar` (no extraction; the shared folder is read-only).
"""
import io
import re
import tarfile

from PIL import Image

from ..errors import TinyTrainError
from ..paths import FORMS, damaged, find_data, open_tar

KINDS = ("imagenet", "cifar10", "cifar100", "mnist", "fashionMNIST")
_NAME = re.compile(r"^foolbox_samples/(?P<kind>[A-Za-z0-9]+)_(?P<index>\d+)_(?P<label>\d+)\.(png|jpg)$")


def samples_path():
    return find_data("samples", *FORMS["samples"])


def load_samples(kind: str):
    """[(PIL.Image, label)] of one dataset, ordered by the sample index NN in the file name."""
    if kind not in KINDS:
        raise TinyTrainError(f"load_samples: unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    path = samples_path()
    found = []
    try:
        with open_tar("load_samples", path) as tf:
            for member in tf.getmembers():
                m = _NAME.match(member.name)
                if m and m["kind"] == kind and member.isfile():
                    found.append((int(m["index"]), _image(tf, member, path), int(m["label"])))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise damaged("load_samples", path, e) from None
    if not found:
        raise TinyTrainError(f"load_samples: no {kind} samples in {path}; is it the foolbox samples tar?")
    return [(img, label) for _, img, label in sorted(found, key=lambda t: t[0])]


def _image(tf, member, path):
    try:
        img = Image.open(io.BytesIO(tf.extractfile(member).read()))
        img.load()
    except Exception as e:  # PIL raises many types (UnidentifiedImageError, SyntaxError, ...)
        raise damaged("load_samples", path, f"cannot read {member.name}: {e}") from None
    return img
