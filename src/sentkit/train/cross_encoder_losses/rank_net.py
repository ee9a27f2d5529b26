"""RankNetLoss: pairwise logistic loss on a query's documents, every pair weighted equally."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from sentkit.encoders.cross_encoder import CrossEncoder
from sentkit.train.cross_encoder_losses.lambda_loss import LambdaLoss
from sentkit.train.cross_encoder_losses.lambda_weighting import NoWeightingScheme
from sentkit.train.registry import register_loss

_IDENTITY = nn.Identity()


@register_loss("rank_net", family="cross")
class RankNetLoss(LambdaLoss):
    """RankNet (Burges et al., 2005): :class:`LambdaLoss` with no weighting scheme.

    For every pair of a query's documents where the first is more relevant, the loss is
    ``-log2 sigmoid(sigma * (s_i - s_j))``, averaged over the pairs.

    Inputs, labels and arguments: those of :class:`LambdaLoss`, without ``weighting_scheme``.

    Example::

        loss = RankNetLoss(model)
        value = loss([queries, document_lists], [torch.tensor(row) for row in relevance])
    """

    def __init__(
        self,
        model: CrossEncoder,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = _IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            weighting_scheme=NoWeightingScheme(),
            k=k,
            sigma=sigma,
            eps=eps,
            reduction_log=reduction_log,
            activation_fn=activation_fn,
            mini_batch_size=mini_batch_size,
        )

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["weighting_scheme"]
        return config

    @property
    def citation(self) -> str:
        return """
@inproceedings{burges2005learning,
  title={Learning to Rank using Gradient Descent},
  author={Burges, Chris and Shaked, Tal and Renshaw, Erin and Lazier, Ari and Deeds, Matt and Hamilton, Nicole
          and Hullender, Greg},
  booktitle={Proceedings of the 22nd international conference on Machine learning},
  pages={89--96},
  year={2005}
}
"""
