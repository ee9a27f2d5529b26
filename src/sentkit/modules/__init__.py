"""Building blocks of embedding pipelines, one per file, registered under short names."""

from sentkit.modules.base import Features, LoadOptions, Module
from sentkit.modules.dense import Dense
from sentkit.modules.normalize import Normalize
from sentkit.modules.pooling import Pooling
from sentkit.modules.registry import module_class_for_type, register, registered_modules, type_string_for
from sentkit.modules.transformer import Transformer

__all__ = [
    "Dense",
    "Features",
    "LoadOptions",
    "Module",
    "Normalize",
    "Pooling",
    "Transformer",
    "module_class_for_type",
    "register",
    "registered_modules",
    "type_string_for",
]
