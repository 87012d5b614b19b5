"""``Resources/SampleData/samples.json``: every sample file with its sha256, size, licence and description.

The catalog is the one description of the samples: the demo reads the files it names after checking their
checksums, and the Slicer SampleData registration passes the same checksums to Slicer.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condswin.errors import InputError

__all__ = [
    "CATALOG_FILENAME",
    "SAMPLE_KEYS",
    "SampleDataError",
    "SampleFile",
    "SampleSet",
    "sample_data_dir",
    "sha256_of",
    "read_catalog",
    "verify_samples",
]

CATALOG_FILENAME = "samples.json"
# What each file is to the demo and to Slicer; the generator writes exactly these.
SAMPLE_KEYS = ("ct", "ct_labels", "mr", "mr_noisy", "kspace")


class SampleDataError(InputError):
    """A sample file is missing, or differs from its catalog entry, or the catalog is unreadable."""


@dataclass(frozen=True)
class SampleFile:
    """One catalog entry; ``path`` is absolute (the catalog's folder joined with ``file``)."""

    key: str
    file: str
    path: Path
    sha256: str
    size_bytes: int
    license: str
    description: str

    @property
    def checksum(self) -> str:
        """The checksum in Slicer SampleData's ``<algo>:<digest>`` form."""
        return f"SHA256:{self.sha256}"


@dataclass(frozen=True)
class SampleSet:
    """The catalog: its folder, its entries by key, and its top-level fields (settings, notes)."""

    folder: Path
    files: dict[str, SampleFile]
    info: dict[str, Any]

    def __getitem__(self, key: str) -> SampleFile:
        return self.files[key]


def sample_data_dir() -> Path:
    """``Resources/SampleData`` beside the ``condswin`` package (the checkout's and the extension's layout)."""
    return Path(__file__).resolve().parents[2] / "Resources" / "SampleData"


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_catalog(folder: str | os.PathLike | None = None) -> SampleSet:
    """Read ``samples.json`` of ``folder`` (default: the embedded ``Resources/SampleData``).

    Raises:
        SampleDataError: no catalog, unreadable JSON, or an entry without the fields above.
    """
    folder = Path(folder) if folder is not None else sample_data_dir()
    path = folder / CATALOG_FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SampleDataError(
            f"{path}: no sample catalog; generate the samples with `python -m condswin.samples --out {folder}`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SampleDataError(f"{path}: not a readable JSON file: {exc}") from exc
    entries = data.get("files") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SampleDataError(f"{path}: a sample catalog is a JSON object with a 'files' list")
    files: dict[str, SampleFile] = {}
    for i, entry in enumerate(entries):
        try:
            sample = SampleFile(
                key=str(entry["key"]),
                file=str(entry["file"]),
                path=folder / str(entry["file"]),
                sha256=str(entry["sha256"]),
                size_bytes=int(entry["size_bytes"]),
                license=str(entry["license"]),
                description=str(entry["description"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SampleDataError(f"{path}: files[{i}]: missing or invalid field ({exc})") from exc
        if Path(sample.file).name != sample.file:
            raise SampleDataError(f"{path}: files[{i}]: 'file' must be a plain file name, got {sample.file!r}")
        files[sample.key] = sample
    missing = [key for key in SAMPLE_KEYS if key not in files]
    if missing:
        raise SampleDataError(f"{path}: no entry for {', '.join(missing)}")
    return SampleSet(folder=folder, files=files, info={k: v for k, v in data.items() if k != "files"})


def verify_samples(samples: SampleSet) -> None:
    """Check every catalogued file: present, of the listed size and sha256.

    Raises:
        SampleDataError: naming the first file that is missing or differs.
    """
    for sample in samples.files.values():
        if not sample.path.is_file():
            raise SampleDataError(f"{sample.path}: sample file is missing (listed in {CATALOG_FILENAME})")
        size = sample.path.stat().st_size
        if size != sample.size_bytes:
            raise SampleDataError(f"{sample.path}: {size} bytes, the catalog lists {sample.size_bytes}")
        digest = sha256_of(sample.path)
        if digest != sample.sha256:
            raise SampleDataError(f"{sample.path}: sha256 {digest} differs from the catalog's {sample.sha256}")
