"""Engine: what every training loop shares (device, precision, seeds, optimiser and schedule, checkpoints,
run folders, logging, plots, memory budgets, process groups). See ``docs/architecture.md``.
"""
