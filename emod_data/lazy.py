"""Package attributes imported on first use (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, modules: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__`` and ``__dir__`` functions that import public names on first use.

    Parameters
    ----------
    package : str
        The package's name (named in the ``AttributeError``).
    modules : dict
        Module -> the public names it defines, separated by spaces.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)``: assign them in the package's ``__init__``.

    Examples
    --------
    >>> exported = lazy_exports(__name__, {"emod_data.store": "open_store Store"})  # doctest: +SKIP
    >>> __getattr__, __dir__, __all__ = exported  # doctest: +SKIP
    """
    exports = {name: module for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        module = importlib.import_module(package)
        return sorted([*vars(module), *exports])

    return __getattr__, __dir__, sorted(exports)
