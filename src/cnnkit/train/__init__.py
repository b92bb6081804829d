"""Training: configuration, the loop, schedules, checkpoints, run directories, transfer, DDP."""
