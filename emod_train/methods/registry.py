"""The method registry: name -> :class:`~emod_train.methods.Method` (EMOD, SCMM, braindecode's models).

EMOD and SCMM are registered in :mod:`emod_train.methods.native`, braindecode's models in
:mod:`emod_train.methods.braindecode_models`, methods of other installed packages through the
:data:`ENTRY_POINT_GROUP` entry points; ``docs/adding_a_method.md`` shows how to add one.
"""

from __future__ import annotations

from emod_train.errors import TaskError
from emod_train.methods import INPUT_KINDS, Method

_ADDED: dict[str, Method] = {}
"""Methods added with :func:`register`, by name, in registration order."""

ENTRY_POINT_GROUP = "emod_train.methods"
"""Entry-point group through which installed packages add methods: each entry point names a
:class:`~emod_train.methods.Method`, a list of them, or a function without arguments returning either."""

_PLUGINS_LOADED = False


def register(method: Method) -> Method:
    """Add a method to the registry (fine-tuning, the benchmark and ``emod-train methods`` then see it).

    Parameters
    ----------
    method : Method
        The entry (see ``docs/adding_a_method.md``); its ``inputs`` must be one of :data:`INPUT_KINDS`.

    Returns
    -------
    Method
        ``method``, so that ``register`` can wrap a module-level definition.

    Raises
    ------
    ValueError
        A name that is already registered, or an unknown input kind.
    """
    if method.inputs not in INPUT_KINDS:
        raise ValueError(f"{method.name}: inputs must be one of {', '.join(INPUT_KINDS)} (got {method.inputs!r})")
    if method.name in _ADDED or any(m.name == method.name for m in _native()):
        raise ValueError(f"a method named {method.name!r} is registered already")
    _ADDED[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method added with :func:`register` (unknown names are ignored)."""
    _ADDED.pop(name, None)


def load_plugins() -> None:
    """Register the methods that installed packages declare under :data:`ENTRY_POINT_GROUP` (once per process).

    Every listing and lookup of the registry calls it first, so ``emod-train`` sees such methods
    without any import of the user's.

    Raises
    ------
    TaskError
        An entry point that cannot be imported, or that gives something other than methods (one
        line naming the entry point).
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    try:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            _register_entry_point(point)
    except TaskError:
        _PLUGINS_LOADED = False  # report it again on the next use rather than run without the method
        raise


def _register_entry_point(point) -> None:
    """Load one entry point of :data:`ENTRY_POINT_GROUP` and register what it gives (see :func:`load_plugins`)."""
    where = f"method entry point {point.name!r} ({point.value})"
    try:
        found = point.load()
        if callable(found) and not isinstance(found, Method):
            found = found()
    except Exception as error:  # a broken plugin is reported as one line, whatever it raised
        raise TaskError(f"{where} failed to load: {type(error).__name__}: {error}") from error
    methods = [found] if isinstance(found, Method) else found
    if not isinstance(methods, (list, tuple)) or not all(isinstance(m, Method) for m in methods):
        raise TaskError(f"{where} gives {type(found).__name__}, not a Method or a list of them")
    for method in methods:
        if _ADDED.get(method.name) is method:
            continue
        try:
            register(method)
        except ValueError as error:
            raise TaskError(f"{where}: {error}") from error


def _native() -> list[Method]:
    """EMOD and SCMM, then the methods added with :func:`register` or by entry points (none imports braindecode)."""
    from emod_train.methods import native

    load_plugins()
    return [*native.methods(), *_ADDED.values()]


def available_methods() -> list[Method]:
    """Registered methods in listing order: EMOD, SCMM, methods added with :func:`register`, then
    braindecode's short names.

    Returns
    -------
    list of Method
    """
    from emod_train.methods import braindecode_models

    return [*_native(), *braindecode_models.methods()]


def pretrainable_methods() -> list[Method]:
    """The registered methods with a pretraining step (EMOD, SCMM and any added one), without importing braindecode.

    Returns
    -------
    list of Method
    """
    return [m for m in _native() if m.pretrainable]


def get_method(name: str) -> Method:
    """The method registered under ``name`` (``braindecode:<ClassName>`` builds one on demand).

    Raises
    ------
    TaskError
        Unknown name (the message lists the registered ones).
    """
    from emod_train.methods import braindecode_models

    for method in _native():  # without importing braindecode
        if method.name == name:
            return method
    if name.startswith("braindecode:"):
        return braindecode_models.method_for_class(name.partition(":")[2])
    known = {m.name: m for m in available_methods()}
    if name not in known:
        raise TaskError(f"unknown model {name!r}; registered: {', '.join(known)} (or braindecode:<ClassName>)")
    return known[name]
