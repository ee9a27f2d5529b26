"""Modules register under short, stable names; sentence-transformers' dotted names are aliases.

``modules.json`` files written by sentence-transformers name a module by its import path, which
changed between versions (``sentence_transformers.models.Pooling``,
``sentence_transformers.sentence_transformer.modules.pooling.Pooling``, ...). sentkit reads the
class name at the end of such a path and maps it through :data:`REFERENCE_CLASS_NAMES`; it writes
``sentence_transformers.models.<Class>`` for modules the reference also has (readable by every
version of it) and ``sentkit.<short name>`` for its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sentkit.errors import ModelFormatError

if TYPE_CHECKING:
    from sentkit.modules.base import Module

ModuleClass = TypeVar("ModuleClass", bound="type[Module]")

_REGISTRY: dict[str, type[Module]] = {}

# sentence-transformers class name -> sentkit short name, filled by ``register(..., reference=...)``.
REFERENCE_CLASS_NAMES: dict[str, str] = {}

_REFERENCE_PREFIX = "sentence_transformers."
_SENTKIT_PREFIX = "sentkit."


def register(name: str, reference: tuple[str, ...] = ()) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator: register a module class under the short ``name``.

    ``reference`` lists the sentence-transformers class names this module reads (the first is the
    one it is saved as); leave it empty for modules the reference does not have.
    """

    def decorate(cls: ModuleClass) -> ModuleClass:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"Module name {name!r} is already registered to {_REGISTRY[name].__name__}.")
        cls.registry_name = name
        cls.reference_names = reference
        _REGISTRY[name] = cls
        for class_name in reference:
            REFERENCE_CLASS_NAMES[class_name] = name
        return cls

    return decorate


def registered_modules() -> dict[str, type[Module]]:
    """All registered module classes by short name (a copy)."""
    _import_builtin_modules()
    return dict(_REGISTRY)


def module_class_for_type(type_string: str) -> type[Module]:
    """Map a ``modules.json`` ``type`` string to a sentkit module class.

    Raises:
        ModelFormatError: an unknown type, naming the known ones.
    """
    _import_builtin_modules()
    short_name: str | None = None
    if type_string.startswith(_SENTKIT_PREFIX):
        short_name = type_string[len(_SENTKIT_PREFIX) :]
    elif type_string.startswith(_REFERENCE_PREFIX):
        short_name = REFERENCE_CLASS_NAMES.get(type_string.rsplit(".", 1)[-1])
    else:
        short_name = type_string if type_string in _REGISTRY else None
    if short_name is None or short_name not in _REGISTRY:
        known = sorted(
            [f"{_SENTKIT_PREFIX}{name}" for name in _REGISTRY]
            + [f"{_REFERENCE_PREFIX}models.{cls_name}" for cls_name in REFERENCE_CLASS_NAMES]
        )
        raise ModelFormatError(
            f"Unknown module type {type_string!r} in modules.json. Known types: {', '.join(known)}. "
            "Custom module code is not executed by sentkit."
        )
    return _REGISTRY[short_name]


def type_string_for(module: Module) -> str:
    """The ``modules.json`` type under which ``module`` is saved.

    A class whose reference type lives outside ``sentence_transformers.models`` (sparse modules)
    names it in ``reference_type``.
    """
    if module.reference_type:
        return module.reference_type
    if module.reference_names:
        return f"{_REFERENCE_PREFIX}models.{module.reference_names[0]}"
    return f"{_SENTKIT_PREFIX}{module.registry_name}"


def _import_builtin_modules() -> None:
    # Importing the package registers every built-in module.
    import sentkit.modules  # noqa: F401
