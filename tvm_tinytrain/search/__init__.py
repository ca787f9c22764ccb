"""Choosing a sparse-update scheme: contribution analysis (short fine-tuning runs measuring
what each bias depth and each layer's weights at each channel ratio add to accuracy) and a
search maximising the summed gains under a memory budget measured by our own planner."""
