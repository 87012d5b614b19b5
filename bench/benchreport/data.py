"""The held-out data every quality number is measured on, prepared once per run in the work folder.

* ``phantoms``: procedural CT phantoms with seeds no training run uses (100000 + i), 256² × 48, drawn livers
  (a user's machine has no real liver shapes) — every model sees them for the first time.
* ``phantoms_test_split``: the default segmentation model's own test split (held-out seeds and real liver
  shapes, regenerated exactly as its training run made them) when the shapes are available.
* ``real_ct``: ``../shared/data/ct`` (real CT with liver labels; no tumour labels) when present.
* ``mr_heldout``: ``brain1_t1gd`` of ``../shared/data/mri``, held out of every MR training run (the card says so).
* ``kspace``: the real phantom k-space file of ``../shared/data/kspace`` (fastMRI schema).

A dataset that is not available here is left out and the document says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PHANTOM_SEED = 100_000
HELD_OUT_MR = "brain1_t1gd.nii.gz"
KSPACE_FILE = "phantom_twix_gre_vcoil.h5"


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        os.symlink(target.resolve(), link)


def fresh_phantoms(folder: Path, count: int) -> Path:
    """``count`` LiTS-layout phantoms with unseen seeds (written once; reused by later runs)."""
    from condswin.ct.phantom import write_lits_case

    for i in range(count):
        if not (folder / f"segmentation-{i}.nii.gz").is_file():
            write_lits_case(folder, i, PHANTOM_SEED + i, shape=(256, 256, 48), overwrite=True)
    return folder


def test_split_phantoms(folder: Path, card: Any) -> Path | None:
    """The model's own held-out phantoms as LiTS cases, or None when its liver shapes are not here."""
    import SimpleITK as sitk

    from condswin.training.config import config_from_dict

    details = card.training.details
    if "config" not in details:
        return None
    from condswin.bundles.card import thaw

    config = config_from_dict(thaw(details["config"]), f"model card {card.id}")
    shapes = config.data.liver_shapes
    if config.data.kind != "phantom" or config.data.test_volumes < 1 or not shapes or not Path(shapes).is_dir():
        return None
    from ct_randomization import heldout_phantoms  # bench/ is on sys.path when bench/report.py runs

    folder.mkdir(parents=True, exist_ok=True)
    for i, (_, ct, labels) in enumerate(heldout_phantoms(config)):
        if not (folder / f"segmentation-{i}.nii.gz").is_file():
            sitk.WriteImage(ct, str(folder / f"volume-{i}.nii.gz"), True)
            sitk.WriteImage(labels, str(folder / f"segmentation-{i}.nii.gz"), True)
    return folder


def shared_folders(work: Path, shared: Path) -> dict[str, Path]:
    """Folders of the real samples, as the evaluation expects them; only those present."""
    found: dict[str, Path] = {}
    if (shared / "ct" / "volume-3001.nii.gz").is_file():
        for name in sorted((shared / "ct").glob("*-*.nii.gz")):
            _link(name, work / "real_ct" / name.name)
        found["real_ct"] = work / "real_ct"
    if (shared / "mri" / HELD_OUT_MR).is_file():
        _link(shared / "mri" / HELD_OUT_MR, work / "mr_heldout" / HELD_OUT_MR)
        found["mr_heldout"] = work / "mr_heldout"
    if (shared / "kspace" / KSPACE_FILE).is_file():
        _link(shared / "kspace" / KSPACE_FILE, work / "kspace" / KSPACE_FILE)
        found["kspace"] = work / "kspace"
    return found


def mr_training_folder(work: Path, shared: Path) -> Path | None:
    """The MR volumes every MR model trains on (all of ``../shared/data/mri`` but the held-out one), or None."""
    names = ("mni152_t1_1mm.nii.gz", "mr_gd_t1_skullstripped.nii.gz")
    if not all((shared / "mri" / name).is_file() for name in names):
        return None
    for name in names:
        _link(shared / "mri" / name, work / "mr_train" / name)
    return work / "mr_train"
