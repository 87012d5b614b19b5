"""MRI toolkit: centred FFTs, fastMRI-compatible column masks, k-space operations, fastMRI h5 I/O, noise.

Submodules are imported explicitly (``from condswin.mri.masks import create_mask``) so that importing
this package stays cheap and never pulls in torch or h5py on its own:

- :mod:`condswin.mri.fft` — centred orthonormal ``fft2c`` / ``ifft2c`` for numpy arrays and torch tensors.
- :mod:`condswin.mri.masks` — ``random``, ``equispaced``, ``equispaced_fraction`` and ``rect_equispaced``
  column masks (``create_mask``, ``MaskSampler``).
- :mod:`condswin.mri.kspace` — ``apply_mask``, zero-filled reconstruction, centre crop, root-sum-of-squares,
  data consistency and single-coil k-space simulation.
- :mod:`condswin.mri.fastmri` — reading and writing fastMRI ``.h5`` files (``read``, ``write``).
- :mod:`condswin.mri.noise` — Gaussian and Rician noise models.
"""
