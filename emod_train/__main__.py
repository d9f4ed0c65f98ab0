"""``python -m emod_train`` runs the ``emod-train`` command line (also under ``torchrun -m emod_train``)."""

from emod_train.cli import main

main()
