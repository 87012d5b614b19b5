"""The names ``condswin denoise`` accepts without a model: the classical methods and the noise models.

A module of its own that imports nothing, so that the command line builds its parser and the Slicer modules
list the methods without loading scipy and scikit-image (which :mod:`condswin.denoise` imports). The method
table of :mod:`condswin.denoise.methods` implements these names; :func:`condswin.denoise.list_methods` returns them.
"""

from __future__ import annotations

__all__ = ["CLASSICAL_METHODS", "NOISE_MODELS"]

# Smoothing filters, then σ-driven denoisers, then contrast enhancement (the order of listings and menus).
CLASSICAL_METHODS: tuple[str, ...] = (
    "mean",
    "gaussian",
    "median",
    "wiener",
    "bilateral",
    "tv",
    "wavelet",
    "wavelet_cycle_spinning",
    "nlm",
    "bm3d",
    "clahe",
)
NOISE_MODELS: tuple[str, ...] = ("gaussian", "rician")
