"""The classical 2-D denoisers and CLAHE behind ``condswin.denoise.denoise``, with a registry of their parameters.

Every method works on one 2-D slice already scaled so that the volume spans [0, 1] (``pipeline.py`` does the
scaling, the slice loop and the Rician correction). ``sigma`` is the noise standard deviation **in those scaled
units**, so every σ-driven parameter below is a factor times σ and means the same at any intensity scale.
Parameters are keyword-only; their defaults are what ``method_parameters`` reports.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal
from skimage import exposure, restoration

from condswin.denoise_names import CLASSICAL_METHODS
from condswin.errors import UsageError
from condswin.lookup import look_up
from condswin.parameter_rules import ParameterRule

__all__ = [
    "DenoiseMethod",
    "ParameterRule",
    "get_method",
    "list_methods",
    "method_parameters",
    "parameter_rules",
    "check_parameters",
]


# --- smoothing filters: fixed kernels, σ unused -------------------------------------------------------------------


def _mean(image: np.ndarray, sigma: float | None, *, size: int = 3) -> np.ndarray:
    """Box (moving-average) filter of ``size``×``size`` pixels."""
    return ndimage.uniform_filter(image, size=size, mode="reflect")


def _gaussian(image: np.ndarray, sigma: float | None, *, kernel_sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur whose kernel standard deviation is ``kernel_sigma`` pixels."""
    return ndimage.gaussian_filter(image, sigma=kernel_sigma, mode="reflect")


def _median(image: np.ndarray, sigma: float | None, *, size: int = 3) -> np.ndarray:
    """Median of each ``size``×``size`` neighbourhood."""
    return ndimage.median_filter(image, size=size, mode="reflect")


# --- σ-driven denoisers --------------------------------------------------------------------------------------------


def _wiener(image: np.ndarray, sigma: float, *, size: int = 5) -> np.ndarray:
    """Adaptive Wiener filter over ``size``×``size`` windows with noise power σ².

    Giving scipy the noise power matters: its own default (the mean local variance) counts edges as noise.
    """
    return signal.wiener(image, mysize=size, noise=sigma * sigma)


def _bilateral(image: np.ndarray, sigma: float, *, color_factor: float = 1.5, sigma_spatial: float = 1.5) -> np.ndarray:
    """Bilateral filter: range kernel width ``color_factor``·σ, spatial kernel width ``sigma_spatial`` pixels."""
    return restoration.denoise_bilateral(
        image, sigma_color=color_factor * sigma, sigma_spatial=sigma_spatial, mode="reflect"
    )


def _tv(image: np.ndarray, sigma: float, *, weight_factor: float = 0.8, max_num_iter: int = 200) -> np.ndarray:
    """Chambolle total-variation denoising with data weight ``weight_factor``·σ (larger: smoother)."""
    return restoration.denoise_tv_chambolle(image, weight=weight_factor * sigma, max_num_iter=max_num_iter)


_SHRINKAGE_RULES = ("BayesShrink", "VisuShrink")
_THRESHOLD_MODES = ("soft", "hard")


def _wavelet_kwargs(sigma: float, wavelet: str, mode: str, shrinkage: str) -> dict[str, Any]:
    return {"sigma": sigma, "wavelet": wavelet, "mode": mode, "method": shrinkage, "rescale_sigma": True}


def _wavelet(
    image: np.ndarray, sigma: float, *, wavelet: str = "db2", mode: str = "soft", shrinkage: str = "BayesShrink"
) -> np.ndarray:
    """Wavelet shrinkage: ``shrinkage`` rule BayesShrink or VisuShrink, thresholds computed from σ.

    (Called ``method`` in scikit-image; renamed because ``denoise`` already takes ``method``.)
    """
    return restoration.denoise_wavelet(image, **_wavelet_kwargs(sigma, wavelet, mode, shrinkage))


def _wavelet_cycle_spinning(
    image: np.ndarray,
    sigma: float,
    *,
    max_shifts: int = 3,
    wavelet: str = "db2",
    mode: str = "soft",
    shrinkage: str = "BayesShrink",
) -> np.ndarray:
    """Shift-invariant wavelet shrinkage: the average over all shifts 0..``max_shifts`` of ``wavelet``."""
    kwargs = _wavelet_kwargs(sigma, wavelet, mode, shrinkage)
    return restoration.cycle_spin(
        image,
        func=restoration.denoise_wavelet,
        max_shifts=int(max_shifts),
        func_kw=kwargs,
        workers=1,
        channel_axis=None,
    )


def _nlm(
    image: np.ndarray, sigma: float, *, h_factor: float = 0.8, patch_size: int = 5, patch_distance: int = 6
) -> np.ndarray:
    """Non-local means with filtering strength h = ``h_factor``·σ.

    σ is also passed to scikit-image so that the expected patch distance of pure noise (2σ²) is subtracted,
    for which its documentation recommends h slightly below σ.
    """
    return restoration.denoise_nl_means(
        image, h=h_factor * sigma, sigma=sigma, patch_size=patch_size, patch_distance=patch_distance, fast_mode=True
    )


_BM3D_PROFILES = ("np", "refilter", "vn", "high", "vn_old", "deb")
_BM3D_STAGES = ("all", "hard_thresholding")


def _bm3d(image: np.ndarray, sigma: float, *, profile: str = "np", stage: str = "all") -> np.ndarray:
    """BM3D (``bm3d`` package) with noise PSD σ²; ``stage`` 'all' adds the Wiener stage to hard thresholding."""
    import bm3d  # imported here: it is slow to import and only this method needs it

    stages = {"all": bm3d.BM3DStages.ALL_STAGES, "hard_thresholding": bm3d.BM3DStages.HARD_THRESHOLDING}
    chosen = stages[stage]
    return np.asarray(bm3d.bm3d(image, sigma_psd=sigma, profile=profile, stage_arg=chosen)).reshape(image.shape)


# --- contrast ------------------------------------------------------------------------------------------------------


def _clahe(
    image: np.ndarray,
    sigma: float | None,
    *,
    clip_limit: float = 0.01,
    kernel_size: int | None = None,
    nbins: int = 256,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of one slice (σ unused).

    ``kernel_size`` is the contextual-region size in pixels (``None``: 1/8 of each slice dimension), and
    ``clip_limit`` in (0, 1] the histogram clip (larger: more contrast). The slice's output spans [0, 1], as in
    2-D CLAHE: each slice is equalised on its own.
    """
    if image.max() == image.min():
        return np.zeros_like(image)  # nothing to equalise; skimage would divide by zero
    clipped = np.clip(image, 0.0, 1.0)
    return exposure.equalize_adapthist(clipped, kernel_size=kernel_size, clip_limit=clip_limit, nbins=nbins)


# --- registry ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenoiseMethod:
    """One entry of the method table.

    Attributes:
        name: the name users pass to ``denoise``.
        apply: ``apply(slice01, sigma01, **params) -> slice``: works on one 2-D slice scaled to [0, 1], with σ in
            the same scaled units (``None`` for methods that ignore σ).
        uses_sigma: whether σ drives the filter (if not, σ is only needed for the Rician correction).
        is_contrast: CLAHE-like intensity remapping rather than a signal estimate; its output is not in signal
            units, so the Rician correction is applied to its input instead of its output.
        summary: one line for listings and GUIs: what the method is and how σ drives it.
    """

    name: str
    apply: Callable[..., np.ndarray]
    uses_sigma: bool
    is_contrast: bool
    summary: str


_METHODS: dict[str, DenoiseMethod] = {
    m.name: m
    for m in (
        DenoiseMethod("mean", _mean, False, False, "box filter of `size` pixels; σ unused"),
        DenoiseMethod("gaussian", _gaussian, False, False, "Gaussian blur of `kernel_sigma` pixels; σ unused"),
        DenoiseMethod("median", _median, False, False, "median of `size` pixels; σ unused"),
        DenoiseMethod("wiener", _wiener, True, False, "adaptive Wiener over `size` pixels, noise power σ²"),
        DenoiseMethod(
            "bilateral",
            _bilateral,
            True,
            False,
            "bilateral, range width `color_factor`·σ, spatial width `sigma_spatial` pixels",
        ),
        DenoiseMethod("tv", _tv, True, False, "Chambolle total variation, weight `weight_factor`·σ"),
        DenoiseMethod("wavelet", _wavelet, True, False, "wavelet shrinkage with thresholds from σ"),
        DenoiseMethod(
            "wavelet_cycle_spinning",
            _wavelet_cycle_spinning,
            True,
            False,
            "shift-invariant wavelet shrinkage (cycle spinning over `max_shifts`), thresholds from σ",
        ),
        DenoiseMethod("nlm", _nlm, True, False, "non-local means, h = `h_factor`·σ"),
        DenoiseMethod("bm3d", _bm3d, True, False, "BM3D with noise PSD σ²"),
        DenoiseMethod("clahe", _clahe, False, True, "contrast-limited adaptive histogram equalisation; σ unused"),
    )
}


def list_methods() -> list[str]:
    """Names accepted by ``denoise`` (:data:`condswin.denoise_names.CLASSICAL_METHODS`), in the order smoothing
    filters → σ-driven denoisers → contrast."""
    return list(CLASSICAL_METHODS)


def get_method(name: str) -> DenoiseMethod:
    """Return the method table entry for ``name``.

    Raises:
        UsageError: for an unknown name; the message lists the accepted ones and suggests a close one.
    """
    return look_up("denoising method", name, _METHODS)


def method_parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of method ``name`` with their defaults (e.g. ``{'size': 3}`` for 'mean')."""
    params = inspect.signature(get_method(name).apply).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


# --- parameter checks ----------------------------------------------------------------------------------------------


def _wavelet_names() -> tuple[str, ...]:
    import pywt  # only needed to check a wavelet name

    return tuple(pywt.wavelist(kind="discrete"))


_INT: dict[str, Any] = {"kind": int, "low": 1}
_POSITIVE: dict[str, Any] = {"kind": float, "low": 0.0, "low_open": True}
_WAVELET_RULES = {
    "wavelet": ParameterRule(
        str, choices=_wavelet_names, hint="a discrete PyWavelets name such as 'db1', 'db2', 'sym4', 'coif1'"
    ),
    "mode": ParameterRule(str, choices=_THRESHOLD_MODES),
    "shrinkage": ParameterRule(str, choices=_SHRINKAGE_RULES),
}
_RULES: dict[str, dict[str, ParameterRule]] = {
    "mean": {"size": ParameterRule(**_INT, high=63)},
    "gaussian": {"kernel_sigma": ParameterRule(**_POSITIVE, high=32.0)},
    "median": {"size": ParameterRule(**_INT, high=31)},
    "wiener": {"size": ParameterRule(**_INT, high=31)},
    "bilateral": {
        "color_factor": ParameterRule(**_POSITIVE, high=100.0),
        "sigma_spatial": ParameterRule(**_POSITIVE, high=32.0),
    },
    "tv": {"weight_factor": ParameterRule(**_POSITIVE, high=100.0), "max_num_iter": ParameterRule(**_INT, high=10000)},
    "wavelet": _WAVELET_RULES,
    # cycle spinning runs the wavelet shrinkage (max_shifts + 1)² times per slice
    "wavelet_cycle_spinning": {"max_shifts": ParameterRule(int, low=0, high=8), **_WAVELET_RULES},
    "nlm": {
        "h_factor": ParameterRule(**_POSITIVE, high=100.0),
        "patch_size": ParameterRule(**_INT, high=31),
        "patch_distance": ParameterRule(**_INT, high=64),
    },
    "bm3d": {
        "profile": ParameterRule(str, choices=_BM3D_PROFILES),
        "stage": ParameterRule(str, choices=_BM3D_STAGES),
    },
    "clahe": {
        "clip_limit": ParameterRule(**_POSITIVE, high=1.0),
        "kernel_size": ParameterRule(**_INT, high=4096, optional=True),
        "nbins": ParameterRule(int, low=2, high=65536),
    },
}


def parameter_rules(name: str) -> dict[str, ParameterRule]:
    """The :class:`ParameterRule` of every parameter of method ``name``."""
    get_method(name)
    return dict(_RULES[name])


def check_parameters(name: str, params: dict[str, Any]) -> None:
    """Check parameter names and values for method ``name`` before any slice is filtered.

    Raises:
        UsageError: an unknown method, an unknown parameter (the message lists the accepted ones with their
            defaults), or a value of the wrong type or out of its range (the message gives the range).
    """
    accepted = method_parameters(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise UsageError(f"{name}: unknown parameter(s) {', '.join(unknown)}; accepted (with defaults): {listing}")
    rules = _RULES[name]
    for key, value in params.items():
        rules[key].check(name, key, value)
