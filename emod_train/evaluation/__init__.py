"""Evaluation: tasks, splits, the supervised fit loop, fine-tuning, the cross-corpus protocol, the
benchmark and the metrics. See ``docs/architecture.md``.
"""
