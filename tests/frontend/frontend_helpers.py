"""Shared by the frontend tests: the two torch models and a quiet torch forward."""
import numpy as np
import torch

from tvm_tinytrain.models import mobilenetv2, tiny_resnet

MODELS = {
    "tiny_resnet": (lambda: tiny_resnet.build(), 32),
    "mbv2": (lambda: mobilenetv2.build(num_classes=10), 128),
}


def torch_logits(model, x):
    """torch forward on one thread (OpenMP spinning on a busy 2-core machine costs seconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    finally:
        torch.set_num_threads(threads)
