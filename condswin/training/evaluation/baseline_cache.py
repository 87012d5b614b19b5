"""Scores of classical denoisers kept by their exact input, so a rerun of an evaluation does not repeat them.

A classical denoiser is deterministic: the same noisy volume, method and code give the same output. BM3D takes
about 30 minutes for the two held-out volumes of the denoising campaign at three noise levels on 2 CPU cores,
and every campaign run scored them again. With a cache folder, a method's scores are computed once per input
and read back afterwards.

The key is a sha256 over everything the result depends on: the noisy and the clean volume (bytes, shape,
dtype), the method, the noise model, and the versions of the code that computes it (the source of
:mod:`condswin.denoise`, of :mod:`condswin.mri.noise` and of the metrics, and the versions of bm3d,
scikit-image, scipy and numpy). Anything else is a miss. What is kept: the metrics, the σ used, and the
representative slice of the output for a montage.

Speed is never read from the cache: on a hit the method runs again on a few slices
(:data:`TIMED_SLICES`), so its seconds per slice are measured in the same run as the models it is compared with.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from condswin.io.atomic import write_json_atomic

__all__ = ["TIMED_SLICES", "BaselineCache", "CachedScores"]

# Slices a cached method is run on again to time it (around the middle of the volume).
TIMED_SLICES = 3

_CODE = ("condswin/denoise", "condswin/mri/noise.py", "condswin/metrics/reconstruction.py")
_PACKAGES = ("bm3d", "scikit-image", "scipy", "numpy")


def _code_fingerprint() -> str:
    """sha256 of the source files and package versions a classical denoiser's scores depend on."""
    root = Path(__file__).resolve().parents[3]
    digest = hashlib.sha256()
    for entry in _CODE:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    for package in _PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{package}={version}".encode())
    return digest.hexdigest()


def _array_digest(digest: Any, array: np.ndarray) -> None:
    contiguous = np.ascontiguousarray(array)
    digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
    digest.update(contiguous.tobytes())


@dataclass(frozen=True)
class CachedScores:
    """What the cache holds for one input: the metrics, the details (σ used, notices) and the montage slice."""

    metrics: dict[str, Any]
    details: dict[str, Any]
    shown: np.ndarray | None


class BaselineCache:
    """A folder of classical-denoiser scores (``<key>.json`` and ``<key>.npy``).

    Args:
        folder: where the entries live (created on the first write).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._code = _code_fingerprint()

    def key(self, method: str, noise: str, noisy: np.ndarray, clean: np.ndarray) -> str:
        """The entry's name: a sha256 of the inputs and of the code (module docstring)."""
        digest = hashlib.sha256(f"{self._code}|{method}|{noise}".encode())
        _array_digest(digest, noisy)
        _array_digest(digest, clean)
        return digest.hexdigest()

    def get(self, key: str) -> CachedScores | None:
        """The entry, or None when it is absent or unreadable (then the method simply runs)."""
        record = self.folder / f"{key}.json"
        try:
            values = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        picture = self.folder / f"{key}.npy"
        try:
            shown = np.load(picture) if picture.is_file() else None
        except (OSError, ValueError):
            shown = None
        return CachedScores(metrics=values["metrics"], details=values["details"], shown=shown)

    def put(self, key: str, metrics: dict[str, Any], details: dict[str, Any], shown: np.ndarray | None) -> None:
        """Store an entry (the picture first, so a record never points to a missing one)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if shown is not None:
            temporary = self.folder / f".{key}.tmp.npy"
            np.save(temporary, shown)
            temporary.replace(self.folder / f"{key}.npy")
        write_json_atomic({"metrics": metrics, "details": details}, self.folder / f"{key}.json", overwrite=True)
