"""FlopsLoss: the FLOPS regulariser that makes sparse embeddings cheap to search."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from sentkit.errors import ConfigurationError
from sentkit.train.registry import register_loss


@register_loss("flops", family="sparse")
class FlopsLoss(nn.Module):
    """Squared L2 norm of the mean embedding: ``sum_v (mean_i w_iv)**2`` (Paria et al., 2020).

    Small when each vocabulary dimension is active in few embeddings of the batch, which is what
    keeps inverted-index search cheap. It is a regulariser: :class:`SpladeLoss` adds it, weighted,
    for the queries and for the documents; it is not trained alone.

    Args:
        model: the :class:`sentkit.SparseEncoder` being regularised.
        threshold: if set, embeddings with at most this many non-zero weights are left out
            (FLOPS with L0 masking, https://arxiv.org/abs/2504.14839).

    Example::

        regularizer = FlopsLoss(model, threshold=100)
        loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 3e-5, 5e-5,
                          document_regularizer=regularizer)
    """

    def __init__(self, model: nn.Module, threshold: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.threshold = threshold

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Not a loss of its own.

        Raises:
            ConfigurationError: always; use it as a regulariser of :class:`SpladeLoss`.
        """
        raise ConfigurationError(
            "FlopsLoss is a regulariser, not a training loss: pass it to SpladeLoss "
            "(document_regularizer=... or query_regularizer=...)."
        )

    def compute_loss_from_embeddings(self, embeddings: Tensor) -> Tensor:
        """Scalar FLOPS of (N, V) embeddings."""
        if self.threshold is not None:
            active = (embeddings != 0).sum(dim=1)  # (N,) non-zero weights per embedding
            embeddings = embeddings * (active > self.threshold).float().unsqueeze(1)  # (N, V)
        return embeddings.mean(dim=0).square().sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @property
    def citation(self) -> str:
        return """
@article{paria2020minimizing,
    title={Minimizing flops to learn efficient sparse representations},
    author={Paria, Biswajit and Yeh, Chih-Kuan and Yen, Ian EH and Xu, Ning and Ravikumar, Pradeep
            and P{\\'o}czos, Barnab{\\'a}s},
    journal={arXiv preprint arXiv:2004.05665},
    year={2020}
}
"""
