"""Abdominal CT toolkit (image I/O itself is :mod:`condswin.io`): HU windowing, LiTS/Decathlon datasets, label
post-processing, liver volumetry report, and a procedural abdominal CT phantom.

Conventions: spacing, origin and sizes are in SimpleITK (x, y, z) order; numpy arrays are (z, y, x);
labels are LiTS's (:mod:`condswin.lits`: 0 background, 1 liver, 2 tumour). The phantom lives in
:mod:`condswin.ct.phantom` (import it from there; it is not loaded with this package).
"""

from condswin.ct.datasets import CaseInfo, CTCase, check_case, find_cases, load_case
from condswin.ct.postprocess import largest_component, postprocess_labels
from condswin.ct.report import liver_report, save_report
from condswin.ct.windowing import HU_WINDOWS, window_bounds, window_hu

__all__ = [
    "HU_WINDOWS",
    "CaseInfo",
    "CTCase",
    "check_case",
    "find_cases",
    "largest_component",
    "liver_report",
    "load_case",
    "postprocess_labels",
    "save_report",
    "window_bounds",
    "window_hu",
]
