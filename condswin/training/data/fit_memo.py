"""Volume normalisations that take a whole volume to compute, computed once and remembered.

A reconstruction sample is normalised with the percentiles of its zero-filled *volume*, which only exists
after every slice has been undersampled. :class:`FitMemo` computes such a value the first time a process
needs it and keeps it in memory and in the volume cache (a small JSON record keyed by everything it depends
on), so other workers, ranks and later runs read it instead of computing it again.
"""

from __future__ import annotations

from collections.abc import Callable

from condswin.training.data.store import ProcessLocal, VolumeCache

__all__ = ["FitMemo", "Fit"]

Fit = tuple[float, float] | None


class FitMemo:
    """Remembered ``Normalization.fit`` results.

    Args:
        cache: the volume cache (where values persist).
        settings: everything besides the volume that the values depend on (masks, noise, normalisation ...).
    """

    def __init__(self, cache: VolumeCache, settings: str):
        self.cache = cache
        self.settings = settings
        self._values: ProcessLocal[Fit] = ProcessLocal(capacity=1_000_000)

    def get(self, name: str, source_key: str, role: str, compute: Callable[[], Fit]) -> Fit:
        """The value for (volume, role), computed with ``compute()`` if no process has stored it yet.

        Args:
            name: the volume's name (for the cache file name).
            source_key: :meth:`VolumeCache.file_key` of the volume's file.
            role: which value (e.g. ``evaluation`` or ``pair-0``).
            compute: makes the value: ``(offset, scale)``, or None when the normalisation is per slice.
        """
        key = f"fit-1|{self.settings}|{source_key}|{role}"

        def load_or_compute() -> Fit:
            record = self.cache.info(f"{name}-fit", key)
            if record is not None:
                value = record["fit"]
                return None if value is None else (float(value[0]), float(value[1]))
            value = compute()
            self.cache.put_info(f"{name}-fit", key, {"fit": None if value is None else list(value)})
            return value

        return self._values.get(key, load_or_compute)
