"""The classical 2-D denoisers and CLAHE behind ``condswin.denoise.denoise``, with a registry of their parameters.

Every method works on one 2-D slice already scaled so that the volume spans [0, 1] (``pipeline.py`` does the
scaling, the slice loop and the Rician correction). ``sigma`` is the noise standard deviation **in those scaled
units**, so every σ-driven parameter below is a factor times σ and means the same at any intensity scale.
Parameters are keyword-only; their defaults are what ``method_parameters`` reports.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal
from skimage import exposure, restoration

__all__ = ["DenoiseMethod", "get_method", "list_methods", "method_parameters", "check_parameters"]


# --- parameter checks: each raises ValueError naming the method and the parameter --------------------------------


def _positive_int(method: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{method}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(method: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{method}: {name} must be a positive number, got {value!r}")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{method}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def _choice(method: str, name: str, value: Any, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"{method}: {name} must be one of {', '.join(map(repr, accepted))}; got {value!r}")
    return value


# --- smoothing filters: fixed kernels, σ unused -------------------------------------------------------------------


def _mean(image: np.ndarray, sigma: float | None, *, size: int = 3) -> np.ndarray:
    """Box (moving-average) filter of ``size``×``size`` pixels."""
    return ndimage.uniform_filter(image, size=_positive_int("mean", "size", size), mode="reflect")


def _gaussian(image: np.ndarray, sigma: float | None, *, kernel_sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur whose kernel standard deviation is ``kernel_sigma`` pixels."""
    width = _positive_float("gaussian", "kernel_sigma", kernel_sigma)
    return ndimage.gaussian_filter(image, sigma=width, mode="reflect")


def _median(image: np.ndarray, sigma: float | None, *, size: int = 3) -> np.ndarray:
    """Median of each ``size``×``size`` neighbourhood."""
    return ndimage.median_filter(image, size=_positive_int("median", "size", size), mode="reflect")


# --- σ-driven denoisers --------------------------------------------------------------------------------------------


def _wiener(image: np.ndarray, sigma: float, *, size: int = 5) -> np.ndarray:
    """Adaptive Wiener filter over ``size``×``size`` windows with noise power σ².

    Giving scipy the noise power matters: its own default (the mean local variance) counts edges as noise.
    """
    size = _positive_int("wiener", "size", size)
    return signal.wiener(image, mysize=size, noise=sigma * sigma)


def _bilateral(image: np.ndarray, sigma: float, *, color_factor: float = 1.5, sigma_spatial: float = 1.5) -> np.ndarray:
    """Bilateral filter: range kernel width ``color_factor``·σ, spatial kernel width ``sigma_spatial`` pixels."""
    sigma_color = _positive_float("bilateral", "color_factor", color_factor) * sigma
    spatial = _positive_float("bilateral", "sigma_spatial", sigma_spatial)
    return restoration.denoise_bilateral(image, sigma_color=sigma_color, sigma_spatial=spatial, mode="reflect")


def _tv(image: np.ndarray, sigma: float, *, weight_factor: float = 0.8, max_num_iter: int = 200) -> np.ndarray:
    """Chambolle total-variation denoising with data weight ``weight_factor``·σ (larger: smoother)."""
    weight = _positive_float("tv", "weight_factor", weight_factor) * sigma
    iters = _positive_int("tv", "max_num_iter", max_num_iter)
    return restoration.denoise_tv_chambolle(image, weight=weight, max_num_iter=iters)


_SHRINKAGE_RULES = ("BayesShrink", "VisuShrink")
_THRESHOLD_MODES = ("soft", "hard")


def _wavelet_kwargs(method_name: str, sigma: float, wavelet: str, mode: str, shrinkage: str) -> dict[str, Any]:
    import pywt  # only needed to validate the wavelet name

    if wavelet not in pywt.wavelist(kind="discrete"):
        raise ValueError(
            f"{method_name}: wavelet must be a discrete PyWavelets name such as 'db1', 'db2', "
            f"'sym4', 'coif1'; got {wavelet!r}"
        )
    return {
        "sigma": sigma,
        "wavelet": wavelet,
        "mode": _choice(method_name, "mode", mode, _THRESHOLD_MODES),
        "method": _choice(method_name, "shrinkage", shrinkage, _SHRINKAGE_RULES),
        "rescale_sigma": True,
    }


def _wavelet(
    image: np.ndarray, sigma: float, *, wavelet: str = "db2", mode: str = "soft", shrinkage: str = "BayesShrink"
) -> np.ndarray:
    """Wavelet shrinkage: ``shrinkage`` rule BayesShrink or VisuShrink, thresholds computed from σ.

    (Called ``method`` in scikit-image; renamed because ``denoise`` already takes ``method``.)
    """
    return restoration.denoise_wavelet(image, **_wavelet_kwargs("wavelet", sigma, wavelet, mode, shrinkage))


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
    if isinstance(max_shifts, bool) or not isinstance(max_shifts, (int, np.integer)) or max_shifts < 0:
        raise ValueError(f"wavelet_cycle_spinning: max_shifts must be an integer >= 0, got {max_shifts!r}")
    kwargs = _wavelet_kwargs("wavelet_cycle_spinning", sigma, wavelet, mode, shrinkage)
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
    h = _positive_float("nlm", "h_factor", h_factor) * sigma
    return restoration.denoise_nl_means(
        image,
        h=h,
        sigma=sigma,
        patch_size=_positive_int("nlm", "patch_size", patch_size),
        patch_distance=_positive_int("nlm", "patch_distance", patch_distance),
        fast_mode=True,
    )


_BM3D_PROFILES = ("np", "refilter", "vn", "high", "vn_old", "deb")
_BM3D_STAGES = ("all", "hard_thresholding")


def _bm3d(image: np.ndarray, sigma: float, *, profile: str = "np", stage: str = "all") -> np.ndarray:
    """BM3D (``bm3d`` package) with noise PSD σ²; ``stage`` 'all' adds the Wiener stage to hard thresholding."""
    import bm3d  # imported here: it is slow to import and only this method needs it

    _choice("bm3d", "profile", profile, _BM3D_PROFILES)
    stages = {"all": bm3d.BM3DStages.ALL_STAGES, "hard_thresholding": bm3d.BM3DStages.HARD_THRESHOLDING}
    chosen = stages[_choice("bm3d", "stage", stage, _BM3D_STAGES)]
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
    clip = _positive_float("clahe", "clip_limit", clip_limit)
    if clip > 1:
        raise ValueError(f"clahe: clip_limit must be in (0, 1], got {clip_limit!r}")
    kernel = None if kernel_size is None else _positive_int("clahe", "kernel_size", kernel_size)
    bins = _positive_int("clahe", "nbins", nbins)
    if image.max() == image.min():
        return np.zeros_like(image)  # nothing to equalise; skimage would divide by zero
    return exposure.equalize_adapthist(np.clip(image, 0.0, 1.0), kernel_size=kernel, clip_limit=clip, nbins=bins)


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
    """Names accepted by ``denoise``, in the order smoothing filters → σ-driven denoisers → contrast."""
    return list(_METHODS)


def get_method(name: str) -> DenoiseMethod:
    """Return the method table entry for ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the accepted ones.
    """
    if not isinstance(name, str) or name not in _METHODS:
        raise ValueError(f"unknown denoising method {name!r}; accepted: {', '.join(_METHODS)}")
    return _METHODS[name]


def method_parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of method ``name`` with their defaults (e.g. ``{'size': 3}`` for 'mean')."""
    params = inspect.signature(get_method(name).apply).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_parameters(name: str, params: dict[str, Any]) -> None:
    """Refuse parameter names that method ``name`` does not take (values are checked when the method runs).

    Raises:
        ValueError: naming the unknown parameters and listing the accepted ones.
    """
    accepted = method_parameters(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; accepted (with defaults): {listing}")
