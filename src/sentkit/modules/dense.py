"""Dense: a linear layer plus activation on the sentence embedding."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from sentkit.errors import ConfigurationError, ModelFormatError
from sentkit.io.files import read_json_object
from sentkit.io.weights import load_weights_into
from sentkit.modules.base import Features, LoadOptions, Module
from sentkit.modules.registry import register


def activation_name(activation: nn.Module) -> str:
    """Import path of an activation module's class, as saved in configs (``torch.nn.modules.activation.Tanh``)."""
    cls = type(activation)
    return f"{cls.__module__}.{cls.__qualname__}"


def activation_from_name(name: str, trust_remote_code: bool = False) -> nn.Module:
    """Build the activation a config names. Only ``torch.nn`` module classes unless code is trusted.

    Raises:
        ModelFormatError: a name that cannot be imported or is not allowed.
    """
    if not name.startswith("torch.") and not trust_remote_code:
        raise ModelFormatError(
            f"Activation function {name!r} is not a torch class; load with trust_remote_code=True "
            "if you trust the code it names."
        )
    module_name, _, class_name = name.rpartition(".")
    try:
        activation_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelFormatError(f"Cannot import activation function {name!r}: {exc}") from exc
    if not (inspect.isclass(activation_class) and issubclass(activation_class, nn.Module)):
        raise ModelFormatError(f"Activation function {name!r} is not a torch.nn.Module class.")
    return activation_class()


@register("dense", reference=("Dense",))
class Dense(Module):
    """``features[module_output_name] = activation(linear(features[module_input_name]))``: (B, in) -> (B, out).

    Args:
        in_features, out_features: sizes of the linear layer.
        bias: whether the layer has a bias.
        activation_function: a ``torch.nn`` module, or None for identity. Defaults to ``nn.Tanh()``.
        init_weight, init_bias: initial values for the layer's weight (out, in) and bias (out,).
        module_input_name, module_output_name: feature keys read and written.
        use_residual: add the input (projected when sizes differ) to the output.
    """

    config_keys: ClassVar[tuple[str, ...]] = (
        "in_features",
        "out_features",
        "bias",
        "activation_function",
        "module_input_name",
        "module_output_name",
        "use_residual",
    )
    has_weights: ClassVar[bool] = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: nn.Module | None = nn.Tanh(),  # noqa: B008 - the reference's default
        init_weight: Tensor | None = None,
        init_bias: Tensor | None = None,
        module_input_name: str = "sentence_embedding",
        module_output_name: str | None = None,
        use_residual: bool = False,
    ) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ConfigurationError(
                f"Dense needs positive sizes, got in_features={in_features}, out_features={out_features}."
            )
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self.activation_function = nn.Identity() if activation_function is None else activation_function
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name or module_input_name
        self.use_residual = use_residual
        if use_residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)
        if init_weight is not None:
            self.linear.weight = nn.Parameter(init_weight)
        if init_bias is not None and bias:
            self.linear.bias = nn.Parameter(init_bias)

    def forward(self, features: Features) -> Features:
        x = features[self.module_input_name]  # (B, in)
        out = self.activation_function(self.linear(x))  # (B, out)
        if self.use_residual:
            out = out + (x if self.in_features == self.out_features else self.residual(x))
        features[self.module_output_name] = out
        return features

    def expected_input_dimension(self) -> int:
        return self.in_features

    def get_embedding_dimension(self) -> int:
        return self.out_features

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        config["activation_function"] = activation_name(self.activation_function)
        if not self.use_residual:
            del config["use_residual"]
        return config

    @classmethod
    def load(cls, folder: str | Path, options: LoadOptions | None = None) -> Module:
        folder = Path(folder)
        config_path = folder / cls.config_file_name
        config = cls.normalize_config(read_json_object(config_path), source=config_path)
        if "activation_function" in config:
            trust = options.trust_remote_code if options else False
            config["activation_function"] = activation_from_name(config["activation_function"], trust)
        module = cls(**config)
        load_weights_into(module, folder)
        return module
