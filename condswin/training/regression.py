"""The fixed held-out sample each embedded model is re-scored on, so a regression test can hold it to its card.

``Training/embed.py`` records :func:`regression_metrics` on the card (``metrics.regression``); the test suite
recomputes them with the shipped weights and fails when one moves by more than :data:`TOLERANCE` (relative).

* segmentation: the embedded sample phantom CT (``Resources/SampleData``, seed 2024 — outside every training
  split, whose seeds start at 0) → liver and tumour Dice of the post-processed segmentation;
* reconstruction and denoising: five slices (10-14) of ``brain1_t1gd`` from ``../shared/data/mri``, the MR
  volume every MR training run holds out → 4× reconstruction (mask and phase seed 0) PSNR/SSIM, and Rician
  σ = 5 % (seed 0) denoising PSNR/SSIM. Without ``../shared/data`` these are not available (the test skips).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from condswin.bundles import LoadedModel
from condswin.inference import InferenceOptions
from condswin.io import read_image
from condswin.jobs import denoise, reconstruct_image, segment
from condswin.lits import BACKGROUND, TUMOUR
from condswin.metrics import dice, reconstruction_metrics
from condswin.mri.masks import MaskSpec
from condswin.mri.noise import add_rician
from condswin.samples.catalog import sample_data_dir

__all__ = ["TOLERANCE", "HELD_OUT_MR", "sample_description", "regression_metrics", "missing_sample"]

TOLERANCE = 0.02
HELD_OUT_MR = Path("mri") / "brain1_t1gd.nii.gz"
_SLICES = slice(10, 15)


def _samples() -> Path:
    return sample_data_dir()


def sample_description(task: str) -> str:
    """What :func:`regression_metrics` scores for ``task``, in words (for the card)."""
    if task == "segmentation":
        return "Resources/SampleData/phantom_ct.nii.gz (phantom seed 2024, never a training seed): Dice per class"
    what = "4x random mask, mask and phase seed 0" if task == "reconstruction" else "Rician sigma 5 %, seed 0"
    return f"slices 10-14 of ../shared/data/mri/brain1_t1gd.nii.gz (held out of every MR run), {what}"


def missing_sample(task: str, shared: Path) -> str | None:
    """Why the sample of ``task`` is not available here, or None."""
    if task != "segmentation" and not (shared / HELD_OUT_MR).is_file():
        return f"{shared / HELD_OUT_MR} is not here (the MR regression sample lives in ../shared/data)"
    return None


def regression_metrics(loaded: LoadedModel, shared: Path) -> dict[str, float]:
    """The model's metrics on its task's fixed sample (see the module docstring)."""
    options = InferenceOptions(device="cpu")
    task = loaded.card.task
    if task == "segmentation":
        pred = sitk.GetArrayFromImage(segment(read_image(_samples() / "phantom_ct.nii.gz"), loaded, options).output)
        ref = sitk.GetArrayFromImage(read_image(_samples() / "phantom_ct_labels.nii.gz"))
        whole_liver = float(dice(pred != BACKGROUND, ref != BACKGROUND))  # liver parenchyma and its tumours
        return {"liver_dice": whole_liver, "tumour_dice": float(dice(pred == TUMOUR, ref == TUMOUR))}
    image = read_image(shared / HELD_OUT_MR)[:, :, _SLICES]
    clean = sitk.GetArrayFromImage(image).astype(np.float32)
    if task == "reconstruction":
        result = reconstruct_image(image, loaded, options, mask=MaskSpec(acceleration=4.0, seed=0), phase_seed=0)
        assert result.details is not None  # a reconstruction job always returns its details
        metrics = result.details.metrics["model"]
    else:
        noisy = sitk.GetImageFromArray(add_rician(clean, 0.05, seed=0))
        noisy.CopyInformation(image)
        out = sitk.GetArrayFromImage(denoise(noisy, loaded, options).output).astype(np.float32)
        metrics = reconstruction_metrics(clean, out)
    return {"psnr": float(metrics["psnr"]), "ssim": float(metrics["ssim"])}
