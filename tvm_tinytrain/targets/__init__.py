"""Device targets: Cortex-M boards (board files, firmware, QEMU runner)."""
