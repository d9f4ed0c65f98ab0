"""``python -m emod_data`` runs the ``emod-data`` command line."""

from emod_data.cli import main

main()
