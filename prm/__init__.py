"""Process reward models: every reasoning step scored in one forward pass per solution.

    from prm import ProcessRewardModel, split_steps
    model = ProcessRewardModel.from_pretrained("path/to/checkpoint")   # format confirmed and logged
    scores = model.score(question, split_steps(solution))
    scores.scores, scores.aggregate("min"), scores.first_error(0.5), scores.spans

Formats (``prm.FORMATS``, one small class each in ``prm/formats/``): Math-Shepherd, a generic
step-tag format, Qwen2.5-Math-PRM, TRL token classification, and outcome reward models
(Qwen2.5-Math-RM). Loading fails closed; see docs/prm/index.md.

torch and transformers are imported only when a model is loaded (``pip install 'mathreward[prm]'``).
"""

from prm.engine import ProcessRewardModel
from prm.errors import (
    PRMDependencyError,
    PRMError,
    PRMFormatError,
    PRMInputError,
    PRMPathError,
    PRMPlacementError,
    PRMScoringError,
    PRMTooLongError,
)
from prm.formats import FORMATS
from prm.scores import StepScores
from prm.select import Selection, select_best
from prm.steps import split_steps

__all__ = [
    "FORMATS",
    "PRMDependencyError",
    "PRMError",
    "PRMFormatError",
    "PRMInputError",
    "PRMPathError",
    "PRMPlacementError",
    "PRMScoringError",
    "PRMTooLongError",
    "ProcessRewardModel",
    "Selection",
    "StepScores",
    "select_best",
    "split_steps",
]
