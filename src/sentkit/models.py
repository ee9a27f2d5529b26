"""``sentkit.models``: the building blocks under the names sentence-transformers users know."""

from sentkit.modules import Dense, Module, Normalize, Pooling, Transformer

__all__ = ["Dense", "Module", "Normalize", "Pooling", "Transformer"]
