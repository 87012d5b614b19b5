"""User-visible strings of the modules go through Slicer's translation function (``slicer.i18n.tr``, Slicer
>= 5.4). Outside the application (slicer-core in the tests, older Slicer) there is nothing to translate with,
so the strings stay as written."""

from __future__ import annotations

__all__ = ["_", "translate"]

try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # slicer-core and Slicer < 5.4 have no slicer.i18n

    def _(text: str) -> str:
        return text

    def translate(context: str, text: str) -> str:
        return text
