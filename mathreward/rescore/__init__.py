"""Batch rescoring of datasets of model samples: verdicts, step scores, metrics, filters, reports.

The CLI is ``mathreward rescore`` / ``mathreward metrics``; the pieces are importable:
:func:`run_rescore` (the resumable pipeline), :func:`metrics_of_file`, :class:`FilterOptions`,
:func:`pass_at_k` and :class:`Summary`.
"""

from mathreward.rescore.accuracy import Summary, majority_correct, pass_at_k, problem_metrics
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.file_accuracy import metrics_of_file
from mathreward.rescore.filters import FilterOptions
from mathreward.rescore.options import RescoreOptions
from mathreward.rescore.run import run_rescore

__all__ = [
    "FilterOptions",
    "RescoreError",
    "RescoreOptions",
    "Summary",
    "majority_correct",
    "metrics_of_file",
    "pass_at_k",
    "problem_metrics",
    "run_rescore",
]
