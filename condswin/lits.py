"""The LiTS label map, the default labels of liver CT segmentation here: 0 background, 1 liver, 2 tumour.

The phantom and the LiTS/Decathlon datasets are labelled with it, the ``liver`` post-processing and the
volumetry report read it, segmentation cards start from it (:data:`condswin.bundles.contract.LITS_LABELS`
gives its classes display names, colours and terminology), and metrics name its classes ``liver`` and
``tumour`` unless given other labels. A card with other labels brings its own.

This module imports only the standard library, so every layer (metrics, the CT toolkit, bundles, the
command-line parsers) can use it without loading more.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["BACKGROUND", "LIVER", "TUMOUR", "LABEL_VALUES", "LITS_CLASSES"]

BACKGROUND, LIVER, TUMOUR = 0, 1, 2
# Every value a LiTS label map may hold.
LABEL_VALUES: frozenset[int] = frozenset({BACKGROUND, LIVER, TUMOUR})
# Label value → class name, as metric keys, evaluation tables and reports spell them (``liver_dice``).
# Read-only: it is the default of functions that callers may not change for everyone.
LITS_CLASSES: Mapping[int, str] = MappingProxyType({LIVER: "liver", TUMOUR: "tumour"})
