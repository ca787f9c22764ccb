"""One exception type for every error a user can cause.

Messages say who is speaking (loader, frontend, quantizer, ...), what was expected,
what was found, where, and what to do next.  Nothing from deep inside TVM should
reach a user without being wrapped in one of these.
"""


class TinyTrainError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class UnsupportedOpError(TinyTrainError):
    """The model uses an operator the toolchain cannot import, quantize or train."""


class WeightFileError(TinyTrainError):
    """A weight file (npz / json / pkl) is missing, malformed or unsafe."""


class ShapeError(TinyTrainError):
    """An input tensor does not have the shape or dtype the model expects."""
