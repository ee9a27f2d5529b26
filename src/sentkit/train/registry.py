"""Losses register under short, stable names; the reference class names are aliases.

``register_loss("cosent", family="sentence")`` on a loss class makes ``loss_class("cosent")`` and
``loss_class("CoSENTLoss")`` find it. A family is ``"sentence"`` (bi-encoder losses on
``SentenceTransformer``), ``"cross"`` (``CrossEncoder``) or ``"sparse"`` (``SparseEncoder``): the
same reference class name (``MultipleNegativesRankingLoss``) exists in several families.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from sentkit.errors import ConfigurationError

LossClass = TypeVar("LossClass", bound=type[nn.Module])

FAMILIES = ("sentence", "cross", "sparse")
_REGISTRY: dict[tuple[str, str], type[nn.Module]] = {}


def register_loss(name: str, family: str = "sentence") -> Callable[[LossClass], LossClass]:
    """Class decorator: register a loss under ``name`` and under its class name, in ``family``."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not one of {FAMILIES}.")

    def decorate(cls: LossClass) -> LossClass:
        for key in (name, cls.__name__):
            if _REGISTRY.get((family, key), cls) is not cls:
                raise ValueError(f"Loss name {key!r} is already registered in the {family!r} family.")
            _REGISTRY[(family, key)] = cls
        return cls

    return decorate


def loss_class(name: str, family: str = "sentence") -> type[nn.Module]:
    """The loss class registered as ``name`` (short name or class name) in ``family``.

    Raises:
        ConfigurationError: an unknown name, listing the known ones.
    """
    _import_builtin_losses()
    try:
        return _REGISTRY[(family, name)]
    except KeyError:
        known = sorted(key for fam, key in _REGISTRY if fam == family)
        raise ConfigurationError(f"Unknown {family} loss {name!r}. Known: {', '.join(known)}.") from None


def _import_builtin_losses() -> None:
    import importlib

    for package in ("sentkit.train.losses", "sentkit.train.cross_encoder_losses", "sentkit.train.sparse_losses"):
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name != package:
                raise
