"""Headless batch runs of the three modules over a folder, inside Slicer::

    Slicer --no-main-window --python-script <extension>/condswin_batch/run.py -- \\
        --task segment --in CT_DIR --out OUT_DIR [--model ID] [--device cpu]

``--task`` is ``segment`` (ConditionalSwinSeg), ``reconstruct`` (MRIRecon, also fastMRI ``.h5`` files, with
``--acceleration``) or ``denoise`` (MRIDenoise, with ``--method``). The options, the per-file loop and the exit
codes are :mod:`condswin_slicer.batch`'s; each module's part is in :mod:`condswin_batch.tasks`.
"""

from __future__ import annotations

from condswin_slicer.batch import main

from condswin_batch.tasks import TASKS

if __name__ == "__main__":
    main(TASKS)
