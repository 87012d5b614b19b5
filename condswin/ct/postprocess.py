"""Clean-up of predicted liver/tumour label maps (0 background, 1 liver, 2 tumour).

Steps, in order:

1. keep the largest 3-D connected component of the liver *including* its tumours (a tumour at the liver's
   edge belongs to the organ, so it must not split the component) and set everything else to background;
   a tumour outside that component is therefore removed. With ``detach_mm`` = r, the component is first
   cut at its necks: the organ eroded by r mm (a Euclidean distance map in mm, so anisotropic voxels count
   right) keeps its largest part, which is grown back by r mm inside the organ. What hung on the liver only
   through a bridge narrower than 2r — bowel, pancreas or muscle a slice-wise network called liver and that
   touches the true liver along a thin seam — falls away; the liver keeps its outline except edges sharper
   than r (an opening by a ball of radius r), and a tumour bulging out of it keeps what lies within r of the
   eroded organ. An organ thinner than 2r everywhere keeps the plain largest component;
2. fill holes of that component in 3-D (cavities enclosed on all sides) with liver. Axial slices are not
   filled one by one: structures such as the inferior vena cava and the gallbladder are enclosed by the
   liver in single slices but are not liver;
3. optionally drop tumours that the liver does not enclose: with ``min_tumour_enclosure`` = f, a tumour piece
   whose surroundings (the voxels outside it within :data:`TUMOUR_SHELL_MM`) are less than a fraction f liver or
   other tumour becomes background. A liver tumour lies in the liver, so even one at the liver's surface has
   liver on much of its surroundings; what a slice-wise network calls tumour where the liver meets bowel,
   stomach, vessels or the body wall has mostly non-liver around it. The pieces are the fully connected tumour
   components; with ``slice_axis`` (the network's slicing axis) a component that fails is looked at again in
   each slice along it, and only its 2-D pieces that fail within their slice go: a real tumour that the network
   joined to false tumour beside the liver in a few slices then keeps its other slices. A tumour growing mostly
   out of the liver (exophytic) is dropped too: the price of the rule;
4. optionally relabel tumour components smaller than ``min_tumour_ml`` as liver.

Connectivity is "full" (26 neighbours in 3-D): a slice-wise network often leaves diagonal contacts
between slices, and those should not split an organ or a tumour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from condswin.lits import BACKGROUND, LABEL_VALUES, LIVER, TUMOUR

__all__ = [
    "postprocess_labels",
    "largest_component",
    "detach_at_necks",
    "fill_enclosed_holes",
    "label_array",
    "tumour_enclosure",
    "unenclosed_tumour",
]

# The neck radius of the liver post-processing of the segmentation job: chosen on the real CT volumes the default
# is validated on (docs/training.md, "Cutting the liver at its necks").
LIVER_DETACH_MM = 6.0
# The tumour clean-up of the segmentation job, chosen on the same volumes (docs/training.md, "Tumours the liver
# does not enclose"): the least fraction of liver around a kept tumour, and the smallest tumour kept (mL).
TUMOUR_MIN_ENCLOSURE = 0.6
MIN_TUMOUR_ML = 0.1
# How far around a tumour component its surroundings reach (mm): a few voxels of a typical abdominal CT, so the
# shell sees what the tumour touches rather than the organs beyond.
TUMOUR_SHELL_MM = 3.0

LabelMap = TypeVar("LabelMap", np.ndarray, sitk.Image)


def label_array(labels: np.ndarray | sitk.Image, name: str = "labels") -> np.ndarray:
    """Validate a label map and return it as a uint8 numpy array (a copy; SimpleITK order z, y, x).

    Args:
        labels: numpy array or SimpleITK image with values in {0, 1, 2}.
        name: what to call the input in error messages.

    Returns:
        uint8 array.

    Raises:
        ValueError: not 2-D/3-D, not scalar, or values outside {0, 1, 2}.
    """
    if isinstance(labels, sitk.Image):
        if labels.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError(f"{name}: a scalar label image is needed")
        array = sitk.GetArrayFromImage(labels)
    else:
        array = np.asarray(labels)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a 2-D or 3-D label map, got {array.ndim}-D with shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: label map must be numeric, got dtype {array.dtype}")
    values = np.unique(array)
    unexpected = [v for v in values.tolist() if v not in LABEL_VALUES]
    if unexpected:
        raise ValueError(f"{name}: unexpected label values {unexpected[:10]}; expected 0, 1 and 2 only")
    return array.astype(np.uint8, copy=True)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest fully connected component of a boolean mask (all False if the mask is empty).

    Args:
        mask: boolean array (2-D or 3-D).

    Returns:
        Boolean array of the same shape.
    """
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    components, count = ndimage.label(mask, structure=structure)
    if count <= 1:
        return components > 0
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(np.argmax(sizes))


def _distance_to(target: np.ndarray, spacing: Sequence[float], *, beyond: bool) -> np.ndarray:
    """Distance in mm from every voxel to the nearest voxel of ``target`` (0 on it), as scipy's Euclidean distance
    transform gives it; voxels beyond the array count as ``target`` when ``beyond``. ``spacing`` in numpy axis order.

    SimpleITK's Maurer distance map (several times faster than ``scipy.ndimage.distance_transform_edt`` on a
    CT-sized mask); its positive side, outside the object it is given, measures to the object's nearest voxel.
    """
    image = sitk.GetImageFromArray(np.pad(target, 1, constant_values=beyond).astype(np.uint8))
    image.SetSpacing([float(v) for v in reversed(spacing)])  # numpy (z, y, x) order → SimpleITK's (x, y, z)
    mapped = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return np.clip(sitk.GetArrayFromImage(mapped)[(slice(1, -1),) * target.ndim], 0, None)


def detach_at_necks(mask: np.ndarray, spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    """The largest component of ``mask`` with what hangs on it through necks narrower than 2 × ``radius_mm`` cut off.

    Args:
        mask: boolean array (2-D or 3-D); not modified.
        spacing: voxel spacing in mm in numpy axis order (z, y, x).
        radius_mm: the erosion radius; 0 gives :func:`largest_component`.

    Returns:
        Boolean array: the voxels of ``mask`` within ``radius_mm`` of the largest component of ``mask`` eroded by
        ``radius_mm``, and connected to it; the largest component of ``mask`` where the erosion leaves nothing.
        Beyond the array counts as outside the mask.
    """
    found = ndimage.find_objects(mask.astype(np.uint8))
    if radius_mm <= 0 or not found or found[0] is None:
        return largest_component(mask)
    # the bounding box with a one-voxel margin holds the nearest outside voxel of every voxel of the mask
    box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(found[0], mask.shape, strict=False))
    sub = mask[box]
    core = largest_component(_distance_to(~sub, spacing, beyond=True) > radius_mm)
    if not core.any():
        return largest_component(mask)
    near_core = _distance_to(core, spacing, beyond=False) <= radius_mm  # the core grown by radius_mm
    kept = np.zeros_like(mask, dtype=bool)
    kept[box] = largest_component(near_core & sub)
    return kept


def fill_enclosed_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` of a mask, computed only on the mask's bounding box.

    Holes (background not connected to the array border, face connectivity) can only lie inside the
    bounding box, and a one-voxel background margin around it connects every outside region to the box's
    border. On a liver in a 512×512×200 CT this takes a fraction of a second instead of seconds.

    Args:
        mask: boolean array (2-D or 3-D); not modified.

    Returns:
        A new boolean array with every enclosed background region set.
    """
    found = ndimage.find_objects(mask.astype(np.uint8))
    filled = mask.copy()
    if not found or found[0] is None:
        return filled
    box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(found[0], mask.shape, strict=False))
    sub = mask[box]
    background, _ = ndimage.label(~sub)
    faces = np.concatenate([np.moveaxis(background, axis, 0)[[0, -1]].ravel() for axis in range(sub.ndim)])
    outside = np.isin(background, np.unique(faces[faces > 0]))
    filled[box] |= ~sub & ~outside
    return filled


def tumour_enclosure(
    tumour: np.ndarray, organ: np.ndarray, spacing: Sequence[float], shell_mm: float = TUMOUR_SHELL_MM
) -> tuple[np.ndarray, np.ndarray]:
    """How much of each tumour component's surroundings is organ (liver or another tumour).

    Args:
        tumour: boolean tumour mask (2-D or 3-D); not modified.
        organ: boolean mask of the liver with its tumours, same shape.
        spacing: voxel spacing in mm in numpy axis order (z, y, x).
        shell_mm: the surroundings of a component are the voxels outside it within this distance (mm).

    Returns:
        ``(components, fractions)``: the fully connected components of ``tumour`` numbered from 1 (0 elsewhere),
        and for each number the fraction of its surroundings inside ``organ`` (``fractions[0]`` is 1; a component
        with no surroundings in the array, filling it, counts as enclosed).
    """
    structure = ndimage.generate_binary_structure(tumour.ndim, tumour.ndim)
    components, count = ndimage.label(tumour, structure=structure)
    fractions = np.ones(count + 1)
    margin = [int(np.ceil(shell_mm / s)) + 1 for s in spacing]
    for number, found in enumerate(ndimage.find_objects(components), start=1):
        if found is None:
            continue
        box = tuple(
            slice(max(s.start - m, 0), min(s.stop + m, n)) for s, m, n in zip(found, margin, tumour.shape, strict=False)
        )
        distance = _distance_to(components[box] == number, spacing, beyond=False)
        shell = (distance > 0) & (distance <= shell_mm)
        if shell.any():
            fractions[number] = float(organ[box][shell].mean())
    return components, fractions


def unenclosed_tumour(
    tumour: np.ndarray,
    organ: np.ndarray,
    spacing: Sequence[float],
    min_enclosure: float,
    slice_axis: int | None = None,
    shell_mm: float = TUMOUR_SHELL_MM,
) -> np.ndarray:
    """The tumour voxels whose piece is enclosed by less than ``min_enclosure`` (see :func:`tumour_enclosure`).

    Args:
        tumour / organ: boolean masks of the tumours and of the liver with its tumours; not modified.
        spacing: voxel spacing in mm in numpy axis order.
        min_enclosure: the least fraction of organ around a piece that keeps it.
        slice_axis: None: the pieces are the fully connected components of ``tumour``; a numpy axis: a
            component that fails is looked at again slice by slice along that axis, and only its 2-D pieces that
            fail within their slice are dropped.
        shell_mm: how far the surroundings reach (mm).

    Returns:
        Boolean mask of the voxels to drop.
    """
    components, fractions = tumour_enclosure(tumour, organ, spacing, shell_mm)
    failing = (fractions < min_enclosure)[components] & tumour
    if slice_axis is None or not failing.any():
        return failing
    # only the failing components are looked at slice by slice; the others stay whole
    plane_spacing = [s for axis, s in enumerate(spacing) if axis != slice_axis]
    others = tuple(axis for axis in range(failing.ndim) if axis != slice_axis)
    dropped = np.zeros_like(failing)
    for index in np.flatnonzero(failing.any(axis=others)):
        where = tuple(int(index) if axis == slice_axis else slice(None) for axis in range(failing.ndim))
        components, fractions = tumour_enclosure(failing[where], organ[where], plane_spacing, shell_mm)
        dropped[where] = (fractions < min_enclosure)[components] & failing[where]
    return dropped


def postprocess_labels(
    labels: LabelMap,
    spacing: Sequence[float] | None = None,
    *,
    fill_holes: bool = True,
    min_tumour_ml: float = 0.0,
    detach_mm: float = 0.0,
    min_tumour_enclosure: float = 0.0,
    slice_axis: int | None = None,
) -> LabelMap:
    """Keep the largest liver (cut at its necks with ``detach_mm``), keep tumours inside it, fill holes; drop
    tumours the liver does not enclose and relabel small ones (module docstring).

    Args:
        labels: label map (0 background, 1 liver, 2 tumour) as a numpy array or a SimpleITK image; not
            modified.
        spacing: voxel spacing in mm in SimpleITK order (x, y, z: the reverse of numpy's axis order), as
            everywhere in ``condswin.ct``. Only needed for ``min_tumour_ml`` or ``detach_mm`` with numpy input;
            SimpleITK input carries its own spacing, and a ``spacing`` given with it must agree.
        fill_holes: fill enclosed 3-D cavities of the liver with liver.
        min_tumour_ml: tumour components smaller than this (in mL) become liver; 0 keeps every tumour.
        detach_mm: cut off what joins the liver only through necks narrower than twice this (mm; module
            docstring); 0 keeps the whole largest component.
        min_tumour_enclosure: tumour pieces whose surroundings (within :data:`TUMOUR_SHELL_MM`) are less
            than this fraction liver or tumour become background; 0 keeps every tumour.
        slice_axis: for ``min_tumour_enclosure``: None drops a failing tumour component whole; a numpy axis (of
            the label array, the network's slicing axis) drops only its 2-D pieces, slice by slice along that
            axis, that fail within their slice.

    Returns:
        The cleaned label map, of the same type as the input: uint8 numpy array, or uint8 SimpleITK image
        with the input's geometry.

    Raises:
        ValueError: bad label values or dimensions, missing or disagreeing spacing.
    """
    array = label_array(labels)
    spacing = _spacing(labels, array, spacing, needed=min_tumour_ml > 0 or detach_mm > 0 or min_tumour_enclosure > 0)
    voxel_ml = float(np.prod(spacing)) / 1000.0 if spacing is not None else 0.0

    if detach_mm > 0:
        assert spacing is not None  # _spacing insists on it
        organ = detach_at_necks(array > BACKGROUND, tuple(reversed(spacing)), detach_mm)
    else:
        organ = largest_component(array > BACKGROUND)
    if fill_holes:
        organ = fill_enclosed_holes(organ)
    tumour = (array == TUMOUR) & organ
    if min_tumour_enclosure > 0 and tumour.any():
        assert spacing is not None  # _spacing insists on it
        dropped = unenclosed_tumour(tumour, organ, tuple(reversed(spacing)), min_tumour_enclosure, slice_axis)
        organ &= ~dropped
        tumour &= ~dropped
    if min_tumour_ml > 0 and tumour.any():
        structure = ndimage.generate_binary_structure(tumour.ndim, tumour.ndim)
        components, _ = ndimage.label(tumour, structure=structure)
        sizes_ml = np.bincount(components.ravel()) * voxel_ml
        small = sizes_ml < min_tumour_ml
        small[0] = False
        tumour &= ~small[components]

    result = np.zeros_like(array)
    result[organ] = LIVER
    result[tumour] = TUMOUR
    if not isinstance(labels, sitk.Image):
        return result
    image = sitk.GetImageFromArray(result)
    image.CopyInformation(labels)
    return image  # type: ignore[return-value]  # mypy cannot tell that LabelMap is sitk.Image here


def _spacing(
    labels: np.ndarray | sitk.Image, array: np.ndarray, spacing: Sequence[float] | None, *, needed: bool
) -> tuple[float, ...] | None:
    """The voxel spacing (x, y, z order): the image's own, or ``spacing`` for numpy input (None if not needed)."""
    if isinstance(labels, sitk.Image):
        image_spacing = tuple(labels.GetSpacing())
        if spacing is not None and not np.allclose(spacing, image_spacing, rtol=1e-6):
            raise ValueError(f"spacing {tuple(spacing)} disagrees with the image spacing {image_spacing}")
        spacing = image_spacing
    if spacing is None:
        if needed:
            raise ValueError(
                "min_tumour_ml, detach_mm and min_tumour_enclosure need the voxel spacing of a numpy label map"
            )
        return None
    if len(spacing) != array.ndim or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be {array.ndim} positive numbers, got {tuple(spacing)}")
    return tuple(float(s) for s in spacing)
