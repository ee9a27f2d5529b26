"""``sentkit.evaluation``: the evaluators, where ``sentence_transformers.evaluation`` users look.

The evaluators (bi-encoder, cross-encoder and sparse) live in :mod:`sentkit.train.evaluation`;
this module re-exports them.
"""

from sentkit.train.evaluation import *  # noqa: F403 - a compatibility alias of that package
from sentkit.train.evaluation import __all__  # noqa: F401
