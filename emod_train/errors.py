"""Exception types raised by emod_train.

Every error carries a one-line message naming the file (store, task, checkpoint) and the problem,
so that the command line prints it as is.
"""


class TrainError(Exception):
    """Base class of every error raised on purpose by emod_train."""


class TaskError(TrainError):
    """A task file is missing or invalid, or the store cannot serve the task."""


class CheckpointError(TrainError):
    """A checkpoint is missing, unreadable, or does not fit the requested run."""


class DataError(TrainError):
    """The store holds no usable windows for the request, or a cache is inconsistent."""


class MemoryBudgetError(TrainError):
    """A training step cannot fit the requested memory budget (``--max-memory``), even with checkpointing."""
