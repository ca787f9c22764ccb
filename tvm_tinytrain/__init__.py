"""tvm_tinytrain: compile pretrained CNNs into C programs that fine-tune them on Cortex-M."""
