"""emod_train: streams windows from an emod_data store into EMOD and SCMM models.

The training half of the toolkit; it depends on torch, which emod_data never imports.
"""

__version__ = "0.1.0"
