"""Evaluation of trained models and classical baselines on a dataset, as the works in docs/benchmarks.md report it.

``python Training/evaluate.py`` runs every model bundle and baseline on every volume of a dataset through
:mod:`condswin.jobs` (exactly what a user of ``condswin`` gets) and writes per-volume metrics (CSV), the
summary table of mean ± std over volumes (markdown), a PNG montage and, from a run's CSV log, the
training curves. One responsibility per module:

- :mod:`~condswin.training.evaluation.request` — the options, their defaults and checks; the settings.
- :mod:`~condswin.training.evaluation.cases` — the volumes of a dataset folder to score.
- :mod:`~condswin.training.evaluation.methods` — model bundles and baselines, resolved and loaded up front.
- :mod:`~condswin.training.evaluation.segmentation` / ``reconstruction`` / ``denoising`` — score one case.
- :mod:`~condswin.training.evaluation.records` — what one case yields.
- :mod:`~condswin.training.evaluation.curves` — the CSV log of a training run and its curves.
- :mod:`~condswin.training.evaluation.runner` — the order of work; :mod:`~condswin.training.evaluation.cli`.

The rows, tables, montage and slice choice are the project's evaluation core, :mod:`condswin.evaluation`.

Typical use::

    from condswin.training.evaluation import EvaluationRequest, run_evaluation
    result = run_evaluation(EvaluationRequest("reconstruction", Path("/data/knee/singlecoil_val"),
                                              models=("runs/r/bundle",), baselines=("zero-filled",)))
"""

from condswin.training.evaluation.request import EvaluationRequest
from condswin.training.evaluation.runner import EvaluationResult, run_evaluation

__all__ = ["EvaluationRequest", "EvaluationResult", "run_evaluation"]
