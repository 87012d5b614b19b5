"""Module parameters kept in the scene: typed dataclasses stored in the module's parameter node.

Each module's parameters are a plain dataclass (``<Module>Lib/parameters.py``) that builds the CLI's argument
list and is unit-tested against the CLI's own parser. Slicer's typed parameter nodes
(``slicer.parameterNodeWrapper``, Slicer >= 5.2) are not in the ``slicer-core`` package the tests run on, so
the dataclass stays the source of truth and :class:`ParameterStore` bridges the two:

* inside Slicer, :func:`wrapper_class` makes a ``parameterNodeWrapper`` class with the dataclass's fields
  (same names, types and defaults) and the store reads and writes the parameter node through it;
* where the wrapper does not exist (slicer-core, tests), the store writes the same parameter names with JSON
  values, so the behaviour around it (what is saved, restored, and defaults) is tested headless.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Generic, TypeVar

__all__ = ["DEVICES", "ParameterStore", "engine_arguments", "wrapper_class", "wrapper_fields"]

DEVICES = ("auto", "cpu", "cuda", "mps")  # condswin's --device: also cuda:N
P = TypeVar("P")
_SCALARS = (bool, int, float, str)


def engine_arguments(device: str, batch_size: int | None, threads: int | None, amp: bool) -> list[str]:
    """The inference options the three commands share (``--device``, ``--batch-size``, ``--threads``,
    ``--no-amp``); ``None`` leaves the CLI's default.

    Raises:
        ValueError: a device that is not one of :data:`DEVICES` or ``cuda:N``; a batch size or thread count
            below 1.
    """
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {device!r}")
    for name, value in (("batch_size", batch_size), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    args = ["--device", device]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if threads is not None:
        args += ["--threads", str(threads)]
    if not amp:
        args.append("--no-amp")
    return args


def _wrappable(annotation: Any) -> Any | None:
    """The annotation as ``parameterNodeWrapper`` serialises it, or None when it cannot.

    The wrapper's union serializer recognises ``typing.Union`` only, not PEP 604's ``X | None``
    (``types.UnionType``), so optional scalars are rewritten as ``typing.Optional``.
    """
    if annotation in _SCALARS:
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        scalars = [m for m in members if m is not type(None)]
        if len(scalars) == 1 and scalars[0] in _SCALARS and len(members) == 2:
            return typing.Optional[scalars[0]]  # noqa: UP045 - the wrapper needs typing.Union's origin
    return None


def wrapper_fields(parameters_type: type) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of the dataclass fields a parameter node can hold; fields of other
    types (a dict of method parameters) are not controls of the panel and stay out of the node."""
    hints = typing.get_type_hints(parameters_type)
    kept = {}
    for item in dataclasses.fields(parameters_type):
        annotation = _wrappable(hints[item.name])
        if annotation is not None and item.default is not dataclasses.MISSING:
            kept[item.name] = (annotation, item.default)
    return kept


def wrapper_class(parameters_type: type) -> type | None:
    """A ``parameterNodeWrapper`` class with the dataclass's fields, or None where Slicer has none."""
    try:
        from slicer.parameterNodeWrapper import parameterNodeWrapper
    except ImportError:  # slicer-core, Slicer < 5.2: the store falls back to JSON parameters
        return None
    fields = wrapper_fields(parameters_type)
    namespace: dict[str, Any] = {name: default for name, (_annotation, default) in fields.items()}
    namespace["__annotations__"] = {name: annotation for name, (annotation, _default) in fields.items()}
    namespace["__module__"] = parameters_type.__module__
    return parameterNodeWrapper(type(f"{parameters_type.__name__}Node", (), namespace))


class ParameterStore(Generic[P]):
    """A module's parameters in the scene's singleton parameter node (saved with the scene, restored when the
    panel opens), the way ``ScriptedLoadableModuleLogic.getParameterNode`` finds that node.

    Args:
        module_name: the module (the node's singleton tag and ``ModuleName`` attribute).
        parameters_type: the module's parameter dataclass.
    """

    def __init__(self, module_name: str, parameters_type: type[P]):
        self.module_name = module_name
        self.parameters_type = parameters_type
        self.fields = wrapper_fields(parameters_type)
        self.wrapper = wrapper_class(parameters_type)

    def node(self, scene: Any) -> Any:
        """The module's ``vtkMRMLScriptedModuleNode`` in ``scene``, made on first use."""
        node = scene.GetSingletonNode(self.module_name, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", scene.GenerateUniqueName(self.module_name))
            node.SetSingletonTag(self.module_name)
            node.SetAttribute("ModuleName", self.module_name)
        return node

    def save(self, scene: Any, parameters: P) -> None:
        node = self.node(scene)
        if self.wrapper is not None:
            wrapped = self.wrapper(node)
            for name in self.fields:
                setattr(wrapped, name, getattr(parameters, name))
            return
        for name in self.fields:
            node.SetParameter(name, json.dumps(getattr(parameters, name)))

    def load(self, scene: Any) -> P:
        """The stored parameters; a value that is missing, unreadable or refused by the dataclass's own checks
        gives way to the defaults (a scene saved by another version must not break the panel)."""
        node = self.node(scene)
        values: dict[str, Any] = {}
        if self.wrapper is not None:
            wrapped = self.wrapper(node)
            values = {name: getattr(wrapped, name) for name in self.fields}
        else:
            for name in self.fields:
                if node.GetParameter(name):
                    try:
                        values[name] = json.loads(node.GetParameter(name))
                    except ValueError:
                        continue
        try:
            return self.parameters_type(**values)
        except (TypeError, ValueError):
            return self.parameters_type()
