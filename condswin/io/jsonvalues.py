"""The one conversion of condswin's values into JSON's: reports, cards, configs and lineages all go through it.

Reports carry numpy scalars and arrays and paths; cards and configs hold dataclasses, read-only mappings and
tuples. :func:`plain` turns all of these into the dicts, lists, strings and numbers JSON has, so what is written
compares equal to what is read back. Only the standard library is imported (numpy values are recognised
without importing numpy).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["plain", "json_text"]


def plain(value: Any) -> Any:
    """``value`` in JSON's own types, recursively.

    Dataclass instances become dicts of their fields, mappings dicts (keys as text), tuples, lists and numpy
    arrays lists, numpy scalars Python numbers, and paths text; anything else is returned as it is (a value
    JSON cannot hold is refused by ``json.dumps``, naming its type).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key if isinstance(key, str) else str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    numpy = sys.modules.get("numpy")  # a numpy value exists only once numpy is imported
    if numpy is not None:
        if isinstance(value, numpy.generic):
            return value.item()
        if isinstance(value, numpy.ndarray):
            return value.tolist()
    return value


def json_text(data: Any) -> str:
    """Indented JSON of :func:`plain` ``(data)``, ending with a newline: the text of every JSON file condswin writes.

    Raises:
        TypeError: a value JSON cannot hold (naming its type).
    """
    return json.dumps(plain(data), indent=2) + "\n"
