"""Training runs: learning-rate schedule, engines (the generated C on the host or a board,
an fp32 PyTorch baseline), the epoch loop and checkpoints of the trained parameters."""
