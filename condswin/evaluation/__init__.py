"""The evaluation core: how a method's output is scored against its reference, and how the scores and the
pictures are shown, for every report of the project.

``condswin evaluate`` (:mod:`condswin.cli.evaluate`), the demo (:mod:`condswin.demo`), the evaluation of
trained models (:mod:`condswin.training.evaluation`, ``Training/evaluate.py``) and the benchmark report
(``bench/``) all use it, so a metric has one name, one precision and one table layout wherever it appears.
It needs numpy and :mod:`condswin.metrics` (which computes every metric); matplotlib only to draw.

- :mod:`~condswin.evaluation.rows` — :class:`MetricRow` (one method, volume and setting) and :class:`MontageRow`.
- :mod:`~condswin.evaluation.scores` — label maps scored per class, classes absent from both marked absent.
- :mod:`~condswin.evaluation.slices` — the slice a figure shows of a volume.
- :mod:`~condswin.evaluation.tables` — CSV, markdown (per row, or mean ± std over volumes) and plain lines.
- :mod:`~condswin.evaluation.figures` — panels, overlays, the montage, PNG files.
"""

from condswin.evaluation.rows import MetricRow, MontageRow
from condswin.evaluation.scores import score_label_maps
from condswin.evaluation.slices import representative_slice

__all__ = ["MetricRow", "MontageRow", "representative_slice", "score_label_maps"]
