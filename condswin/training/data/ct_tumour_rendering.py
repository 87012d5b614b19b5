"""How a domain-randomised training rendering draws liver tumours: as they look in contrast-enhanced CT.

Each tumour (a 3-D component of the tumour tissue in the rendered slab) gets its own appearance, drawn
against the rendering's liver HU:

* ``hypodense`` (7 in 10): 10–55 HU darker than the liver, as most metastases are in the portal venous phase
  (the expert tumours of a real portal-venous scan measured here lie 10–41 HU below their liver);
* ``hyperdense`` (1 in 10): 10–50 HU brighter (hypervascular lesions);
* ``rim`` (1 in 10): a core 30–70 HU darker inside an enhancing ring 1–2 px thick, 10–40 HU brighter;
* ``cyst`` (1 in 10): water density, 0–25 HU, with a sharp margin.

Solid tumours blend into the liver over a margin of 0.5–3 px (the value ramps from the liver's at the
outline to the tumour's inside it) and carry their own mottling (up to 15 HU, 1–3 px grain): a flat disc
with a sharp edge, the easiest thing to find, is what real tumours almost never look like. Labels are not
touched: a faint margin pixel is still tumour, as an expert's outline says.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["TUMOUR_KINDS", "render_tumours"]

TUMOUR_KINDS: tuple[str, ...] = ("hypodense", "hyperdense", "rim", "cyst")
_KIND_P = (0.7, 0.1, 0.1, 0.1)
_HYPODENSE_HU = (10.0, 55.0)
_HYPERDENSE_HU = (10.0, 50.0)
_RIM_CORE_HU = (30.0, 70.0)
_RIM_RING_HU = (10.0, 40.0)
_RIM_PX = (1.0, 2.0)
_CYST_HU = (0.0, 25.0)
_MARGIN_PX = (0.5, 3.0)
_MOTTLE_HU = 15.0
_MOTTLE_GRAIN_PX = (1.0, 3.0)


def _depth_px(component: np.ndarray) -> np.ndarray:
    """In-plane distance (px) of each component pixel from the outline, slice by slice (0 outside).

    In-plane only: the slab's slices may be 5 mm apart, so a through-plane distance would say little.
    """
    depth = np.zeros(component.shape, dtype=np.float32)
    for k in range(component.shape[0]):
        if component[k].any():
            depth[k] = ndimage.distance_transform_edt(component[k])
    return depth


def _mottle(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    grain = rng.uniform(*_MOTTLE_GRAIN_PX)
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma=(0.0, grain, grain))
    return field / np.float32(max(float(field.std()), 1e-6))


def render_tumours(hu: np.ndarray, tumour: np.ndarray, liver_hu: float, rng: np.random.Generator) -> list[str]:
    """Paint every tumour component of a slab into its HU map, in place.

    Args:
        hu: float32 (k, h, w) HU map of the slab (tissue means; tumour pixels are overwritten).
        tumour: boolean (k, h, w), the tumour tissue.
        liver_hu: the liver's mean HU in this rendering.
        rng: the sample's generator.

    Returns:
        The kind drawn for each component, in label order.
    """
    components, _ = ndimage.label(tumour)
    kinds: list[str] = []
    for label, found in enumerate(ndimage.find_objects(components), start=1):
        # Work in the component's box (one pixel wider in-plane, so its outline has background around it),
        # not the whole slab: this runs for every tumour of every training sample.
        assert found is not None  # labels run from 1 to count without gaps
        box = (found[0], *(slice(max(0, s.start - 1), s.stop + 1) for s in found[1:]))
        component = components[box] == label
        kind = str(rng.choice(TUMOUR_KINDS, p=_KIND_P))
        kinds.append(kind)
        region = hu[box]
        if kind == "cyst":
            region[component] = rng.uniform(*_CYST_HU)
            continue
        depth = _depth_px(component)
        if kind == "hypodense":
            contrast = -rng.uniform(*_HYPODENSE_HU)
        elif kind == "hyperdense":
            contrast = rng.uniform(*_HYPERDENSE_HU)
        else:
            contrast = -rng.uniform(*_RIM_CORE_HU)
        # The outline pixel (depth 1) sits halfway between liver and tumour, full contrast half a margin further in.
        margin = rng.uniform(*_MARGIN_PX)
        weight = np.clip(0.5 + (depth - 1.0) / np.float32(margin), 0.0, 1.0)
        mottle = np.float32(rng.uniform(0.0, _MOTTLE_HU)) * _mottle(rng, component.shape)
        values = np.float32(liver_hu) + weight * (np.float32(contrast) + mottle)
        if kind == "rim":
            ring = depth <= rng.uniform(*_RIM_PX)
            values = np.where(ring, np.float32(liver_hu + rng.uniform(*_RIM_RING_HU)), values)
        region[component] = values[component]
    return kinds
