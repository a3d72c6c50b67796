"""Training: config, batch plans, checkpoints, the distributed trainer."""
