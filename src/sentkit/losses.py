"""``sentkit.losses``: the bi-encoder losses, where ``sentence_transformers.losses`` users look.

The losses live in :mod:`sentkit.train.losses` (the ``train`` extra); this module re-exports them
so that ``from sentence_transformers.losses import CoSENTLoss`` becomes
``from sentkit.losses import CoSENTLoss``.
"""

from sentkit.train.losses import *  # noqa: F403 - a compatibility alias of that package
from sentkit.train.losses import __all__  # noqa: F401
