"""Score model bundles and classical baselines on a dataset: tables (CSV, markdown), a montage, training curves.

    python Training/evaluate.py --task segmentation --data /data/LiTS --model runs/seg/bundle --limit 20
    python Training/evaluate.py --task reconstruction --data /data/knee/singlecoil_val --model runs/rec/bundle \
        --baseline zero-filled --acceleration 4 8 --curves runs/rec
    python Training/evaluate.py --task denoising --data /data/mr --model runs/den/bundle --baseline bm3d nlm \
        --noise rician --sigma 0.05 0.10

A thin script beside ``train.py``: the work is in :mod:`condswin.training.evaluation` (options and exit codes:
:mod:`condswin.training.evaluation.cli`; outputs: :mod:`condswin.training.evaluation.runner`). See the
"Evaluating" section of ``docs/training.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a source checkout without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from condswin.training.evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
