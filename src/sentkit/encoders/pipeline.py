"""Checks and wiring of a module pipeline, done once when a model is built."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import nn

from sentkit.errors import ConfigurationError
from sentkit.modules import Module, Router, Transformer


def walk(modules: Iterable[nn.Module]) -> Iterator[nn.Module]:
    """Every module of the pipeline, those inside Router routes included."""
    for module in modules:
        yield module
        if isinstance(module, Router):
            for route in module.routes().values():
                yield from walk(route)


def check_dimensions(modules: Iterable[nn.Module], size: int | None = None) -> int | None:
    """Follow the embedding size through ``modules``; return the size they output.

    Raises:
        ConfigurationError: a module that reads a size other than the one its predecessor outputs
            (names both modules and both sizes).
    """
    previous = "the input"
    for index, module in enumerate(modules):
        name = f"{type(module).__name__} (module {index})"
        if isinstance(module, Router):
            outputs = {route: check_dimensions(route_modules, size) for route, route_modules in module.routes().items()}
            size = outputs.get(module.default_route or "", next(iter(outputs.values())))
        elif isinstance(module, Module):
            expected = module.expected_input_dimension()
            if expected is not None and size is not None and expected != size:
                raise ConfigurationError(
                    f"{name} takes embeddings of size {expected}, but {previous} outputs size {size}. "
                    "Make the sizes match (e.g. Dense(in_features=...) after Pooling)."
                )
            size = module.get_embedding_dimension() or size
        previous = name
    return size


def enable_layer_outputs(modules: Iterable[nn.Module]) -> None:
    """Make every Transformer return all layers when some module reads them."""
    everything = list(walk(modules))
    if any(getattr(module, "needs_all_layers", False) for module in everything):
        for module in everything:
            if isinstance(module, Transformer):
                module.output_hidden_states = True


def match_first_dtype(modules: list[nn.Module]) -> None:
    """Give the modules after the first the floating-point type of the first one's weights.

    A Transformer loaded in bfloat16 (``model_kwargs={"torch_dtype": torch.bfloat16}``) then feeds
    a Dense layer of the same type, as in sentence-transformers.
    """
    first = next(modules[0].parameters(), None) if modules else None
    if first is not None and first.is_floating_point():
        for module in modules[1:]:
            module.to(first.dtype)
