"""The end-to-end demo (``condswin demo``, ``make demo``) on the embedded sample data.

Runs the three jobs with the default model of each task (:func:`condswin.bundles.registry.default_bundle`)
and their baselines — segmentation of the phantom CT against its reference labels, reconstruction of the
simulated fastMRI file at 4× (zero-filled vs model), denoising of the Rician-noisy MR (noisy, BM3D, model) —
and writes NIfTI outputs, one PNG figure per job, a metrics table (markdown + CSV) and the segmentation
report to one folder, published only when the whole run succeeded. A task without a model runs its
baselines and says so. :func:`condswin.demo.run.run_demo` is the entry point.
"""

from condswin.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
