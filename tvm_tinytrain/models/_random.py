"""Seeded random weights for the model zoo's `build()` functions.

There are no fp32 checkpoints of the paper's backbones, so `build()` gives
deterministic random weights; BN statistics are random too so BN folding is
actually exercised (identity BN would hide folding bugs).
"""
import torch
from torch import nn


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Overwrite every conv/BN/linear parameter from a private generator (global RNG untouched)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear)):
            fan_in = m.weight[0].numel()
            gain = 1.0 if isinstance(m, nn.Linear) else 2.0
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (gain / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)          # gamma in [0.5, 1.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.1)           # beta
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)     # var in [0.5, 1.5)
    return model.eval()


def example_input(shape, seed: int = 0) -> torch.Tensor:
    """A deterministic N(0, 1) input of `shape`."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
