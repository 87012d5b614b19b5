"""The extension's sample data in Slicer's SampleData module (category "ConditionalSwin").

Three samples from the installed ``Resources/SampleData`` (described, with their sha256, in its
``samples.json``): the phantom CT with its reference segmentation, the noisy MR with its clean reference, and
the fastMRI k-space file, which Slicer loads through MRIRecon's scripted reader (file type
``FastMRIKSpaceFile``). The URIs are ``file://`` addresses of the installed files, so nothing is downloaded;
SampleData still copies them into its cache and verifies the checksums. Each module file calls
:func:`register_on_startup`; SampleData ignores a source that is already registered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

__all__ = [
    "CATEGORY",
    "KSPACE_FILE_TYPE",
    "sample_data_folder",
    "sample_sources",
    "register_sample_data",
    "register_on_startup",
]

CATEGORY = "ConditionalSwin"
# The file type of MRIRecon's scripted reader (MRIReconLib.reader takes it from here).
KSPACE_FILE_TYPE = "FastMRIKSpaceFile"
# (sample name shown on the button and unique across categories, [(catalog key, node name, file type), ...])
SAMPLES = (
    ("ConditionalSwin phantom CT",
     [("ct", "PhantomCT", "VolumeFile"), ("ct_labels", "PhantomCT reference", "SegmentationFile")]),
    ("ConditionalSwin noisy MR",
     [("mr_noisy", "MNI152 T1 noisy", "VolumeFile"), ("mr", "MNI152 T1 reference", "VolumeFile")]),
    ("ConditionalSwin k-space", [("kspace", "MNI152 T1 k-space", KSPACE_FILE_TYPE)]),
)  # fmt: skip


def sample_data_folder(module_dir: str | Path) -> Path:
    """``Resources/SampleData``: beside the installed modules, or at the top of a source checkout."""
    module_dir = Path(module_dir)
    for candidate in (module_dir / "Resources" / "SampleData", module_dir.parent / "Resources" / "SampleData"):
        if (candidate / "samples.json").is_file():
            return candidate
    raise FileNotFoundError(f"Resources/SampleData/samples.json not found beside {module_dir}")


def sample_sources(folder: str | Path) -> list[dict[str, Any]]:
    """The keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for each sample."""
    folder = Path(folder)
    catalog = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    entries = {entry["key"]: entry for entry in catalog["files"]}
    sources = []
    for name, files in SAMPLES:
        sources.append(
            {
                "category": CATEGORY,
                "sampleName": name,
                "uris": [(folder / entries[key]["file"]).resolve().as_uri() for key, _, _ in files],
                "fileNames": [entries[key]["file"] for key, _, _ in files],
                "nodeNames": [node for _, node, _ in files],
                "loadFileType": [kind for _, _, kind in files],
                "checksums": [f"SHA256:{entries[key]['sha256']}" for key, _, _ in files],
            }
        )
    return sources


def register_sample_data(module_dir: str | Path, register: Any = None) -> list[dict[str, Any]]:
    """Register every sample (``register`` defaults to SampleData's ``registerCustomSampleDataSource``; the
    keywords used are those every Slicer 5 release accepts)."""
    if register is None:
        import SampleData

        register = SampleData.SampleDataLogic.registerCustomSampleDataSource
    sources = sample_sources(sample_data_folder(module_dir))
    for source in sources:
        register(**source)
    return sources


def register_on_startup(module_dir: str | Path) -> None:
    """Register the samples once Slicer has started (the SampleData module exists only then); a failure is
    logged, never raised: a missing sample must not stop the module from loading."""
    import slicer

    def register() -> None:
        try:
            register_sample_data(module_dir)
        except Exception as error:  # noqa: BLE001 - logged for the user; the module stays usable
            logging.warning(f"ConditionalSwin sample data not registered: {error}")

    slicer.app.connect("startupCompleted()", register)
