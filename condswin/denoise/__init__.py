"""Classical MRI denoising and contrast enhancement behind one call.

``denoise(volume, method, noise="gaussian"|"rician", sigma=None, **params)`` runs any of ``list_methods()``
(mean, Gaussian, median, Wiener, bilateral, total variation, wavelet, cycle-spinning wavelet, non-local means,
BM3D, and CLAHE) slice by slice on a 2-D image or a (slices, H, W) volume, with σ given in the image's intensity
units or estimated, and the Rician bias correction applied the same way for every method.
See ``pipeline.py`` for the order of operations and ``methods.py`` for each method's parameters.
"""

from condswin.denoise.methods import list_methods, method_parameters
from condswin.denoise.pipeline import NOISE_MODELS, denoise, estimate_noise_sigma

__all__ = ["NOISE_MODELS", "denoise", "estimate_noise_sigma", "list_methods", "method_parameters"]
