"""Data: window tables, datasets and loaders, batch samplers, the signal and window caches, DE features.

Everything here reads an emod_data store and yields tensors; nothing here knows a model. See
``docs/architecture.md``.
"""
