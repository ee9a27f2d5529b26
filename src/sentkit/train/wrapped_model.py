"""Running a loss's forward pass through the DDP / compile wrapper of its model.

Under DistributedDataParallel (or ``torch.compile``) the forward pass must go through the wrapper
for gradients to be synchronised, but losses also use the sentkit model's own API (``model[0]``,
``model.tokenize``, ``model.device``, ``model.num_labels``), which the wrapper hides. A loss's
``model`` is therefore replaced during training by :class:`WrappedModel`: calling it calls the
wrapper, everything else reads the model. The trainer puts the model back after training.
"""

from __future__ import annotations

from typing import Any

from torch import nn


class WrappedModel(nn.Module):
    """Calls go to ``wrapper`` (DDP / compiled module); indexing and attributes go to ``model``.

    Holds neither as a submodule, so a loss's parameters and state dict do not change.
    """

    def __init__(self, wrapper: nn.Module, model: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "wrapper", wrapper)
        object.__setattr__(self, "model", model)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrapper(*args, **kwargs)

    def __getitem__(self, index: Any) -> Any:
        return self.model[index]

    def __len__(self) -> int:
        return len(self.model)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)


def swap_model(module: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Replace ``old`` by ``new`` wherever a submodule of ``module`` (a loss) holds it."""
    for name, child in list(module.named_children()):
        if child is old:
            setattr(module, name, new)
        elif child is not new:
            swap_model(child, old, new)


def route_through(loss: nn.Module, model: nn.Module, wrapper: nn.Module) -> None:
    """Make ``loss`` run ``model``'s forward passes through ``wrapper`` (once; later calls do nothing)."""
    if any(isinstance(child, WrappedModel) for child in loss.modules()):
        return
    swap_model(loss, model, WrappedModel(wrapper, model))


def unroute(loss: nn.Module) -> None:
    """Undo :func:`route_through`: the loss holds the plain model again."""
    for wrapped in [child for child in loss.modules() if isinstance(child, WrappedModel)]:
        swap_model(loss, wrapped, wrapped.model)
