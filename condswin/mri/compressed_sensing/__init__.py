"""Classical compressed-sensing reconstruction of undersampled single-coil Cartesian k-space, in torch.

Each slice's complex image ``x`` minimises ``1/2 ||M F x - y||^2 + lam R(x)`` ("Sparse MRI: The application
of compressed sensing for rapid MR imaging", Lustig, Donoho & Pauly), with ``F`` the centred orthonormal FFT
of :mod:`condswin.mri.fft`, ``M`` the sampled columns and ``y`` the measured k-space:

- ``cs-tv``: ``R`` = isotropic total variation, solved by ADMM with an exact two-FFT image update;
- ``cs-wavelet``: ``R`` = ℓ1 norm of orthonormal Haar wavelet detail coefficients (4 levels), solved by FISTA
  ("A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse Problems", Beck & Teboulle) with a
  random circular shift of the wavelet grid every iteration.

Modules: :mod:`.methods` (names, parameters, defaults; no torch), :mod:`.solvers`, :mod:`.wavelets`,
:mod:`.finite_differences`; a whole volume, slice by slice with ``lam`` relative to the data, is
:func:`condswin.inference.compressed_sensing.reconstruct_volume`.
Written on torch, which condswin already needs, rather than on SigPy: SigPy would add numba and llvmlite to
Slicer's Python for two solvers of a few dozen lines each.
"""

from condswin.mri.compressed_sensing.methods import CS_TV, CS_WAVELET, get_method, list_methods, resolve_parameters

__all__ = ["CS_TV", "CS_WAVELET", "get_method", "list_methods", "resolve_parameters"]
