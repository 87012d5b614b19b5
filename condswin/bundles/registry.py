"""Finding model bundles: the embedded registry, folders from ``CONDSWIN_MODEL_PATH``, or an explicit path.

Search order for an id (the first match wins, so a user's retrained model can stand in for an embedded one
of the same id):

1. the folders in ``CONDSWIN_MODEL_PATH`` (separated by ``os.pathsep``), in order. Each folder may be a
   bundle (holds ``model_card.json``), a registry (holds ``models.json``), or a folder of bundle folders;
2. the embedded registry ``Resources/Models/models.json`` of this checkout / extension.

``resolve_bundle(spec)`` also accepts a path: a bundle folder, a card ``.json`` file, or a ``models.json``
holding exactly one model.

``default_bundle(task)`` is the model used when none is named (the command line, the demo, the Slicer modules):
a registry entry may carry ``"default": true`` (at most one per task: ``embed_bundle(..., default=True)``
unmarks the others); the first location in the search order that holds a model of the task gives its marked
one, else its first one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from condswin.bundles.card import CARD_FILENAME, BundleError, freeze
from condswin.bundles.parse import parse_card
from condswin.bundles.store import Bundle, sha256_file, verify_weights
from condswin.io.atomic import atomic_path, write_json_atomic

__all__ = [
    "MODEL_PATH_ENV",
    "REGISTRY_FILENAME",
    "BundleNotFoundError",
    "embedded_models_dir",
    "read_registry",
    "read_bundle",
    "discover_bundles",
    "resolve_bundle",
    "default_bundle",
    "is_default",
    "embed_bundle",
]

MODEL_PATH_ENV = "CONDSWIN_MODEL_PATH"
EMBEDDED_MODELS_ENV = "CONDSWIN_EMBEDDED_MODELS"
REGISTRY_FILENAME = "models.json"
SCHEMA_FILENAME = "models.schema.json"
# The registry field that marks the default model of a task (kept in the card's extras).
DEFAULT_FIELD = "default"


class BundleNotFoundError(BundleError):
    """No bundle with the requested id or path."""


def embedded_models_dir() -> Path:
    """``Resources/Models`` next to the ``condswin`` package (the extension's and the checkout's layout), or the
    folder named by ``CONDSWIN_EMBEDDED_MODELS`` (a packaging that keeps the weights elsewhere; an empty folder
    hides the embedded models, as tests of the "no model installed" paths do).

    Raises:
        BundleError: ``CONDSWIN_EMBEDDED_MODELS`` names a file or a folder that does not exist (a typo there
            would otherwise look like a checkout without models).
    """
    override = os.environ.get(EMBEDDED_MODELS_ENV)
    if not override:
        return Path(__file__).resolve().parents[2] / "Resources" / "Models"
    folder = Path(override)
    if not folder.exists():
        raise BundleError(f"{folder}: no such folder ({EMBEDDED_MODELS_ENV} names it as the embedded models' folder)")
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: not a folder ({EMBEDDED_MODELS_ENV} must name the folder holding {REGISTRY_FILENAME}, "
            "or an empty folder to hide the embedded models)"
        )
    return folder


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleNotFoundError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not a readable JSON file: {exc}") from exc


def _registry_entries(path: Path) -> tuple[list[Bundle], list[str]]:
    """Every valid card of a registry and the problems of the others (one bad entry hides no other)."""
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise BundleError(f"{path}: a registry must be a JSON object with a 'models' list")
    bundles: list[Bundle] = []
    problems: list[str] = []
    for i, entry in enumerate(data["models"]):
        try:
            card = parse_card(entry, f"{path}: models[{i}]")
        except BundleError as exc:
            problems.append(f"{exc} (entry skipped)")
            continue
        if card.id in {b.id for b in bundles}:
            problems.append(f"{path}: models[{i}]: id {card.id!r} appears twice (entry skipped)")
            continue
        if not isinstance(card.extras.get(DEFAULT_FIELD, False), bool):
            problems.append(f"{path}: models[{i}].{DEFAULT_FIELD}: must be true or false (entry skipped)")
            continue
        bundles.append(Bundle(card=card, root=path.parent, source=path))
    return bundles, problems


def read_registry(path: str | os.PathLike) -> list[Bundle]:
    """Read a ``models.json`` registry (``{"models": [card, ...]}``); weights paths are relative to its folder.

    Raises:
        BundleError: unreadable JSON, no ``models`` list, an invalid card, or a repeated id (the first one).
    """
    bundles, problems = _registry_entries(Path(path))
    if problems:
        raise BundleError(problems[0].removesuffix(" (entry skipped)"))
    return bundles


def read_bundle(path: str | os.PathLike) -> Bundle:
    """Read one bundle from its folder or its card file (the weights are not checked here).

    Raises:
        BundleNotFoundError: the path does not exist or holds no card.
        BundleError: the card is invalid.
    """
    path = Path(path)
    if path.is_dir():
        card_path = path / CARD_FILENAME
        if not card_path.is_file():
            if (path / REGISTRY_FILENAME).is_file():
                return _single_from_registry(path / REGISTRY_FILENAME)
            raise BundleNotFoundError(f"{path}: not a model bundle (no {CARD_FILENAME} in this folder)")
    elif path.is_file():
        if path.name == REGISTRY_FILENAME:
            return _single_from_registry(path)
        card_path = path
    else:
        raise BundleNotFoundError(f"{path}: no such model bundle (file or folder)")
    card = parse_card(_load_json(card_path), str(card_path))
    return Bundle(card=card, root=card_path.parent, source=card_path)


def _single_from_registry(path: Path) -> Bundle:
    bundles = read_registry(path)
    if len(bundles) != 1:
        raise BundleError(f"{path}: holds {len(bundles)} models; pass one of their ids instead of the registry path")
    return bundles[0]


def _search_folders(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    folders = [Path(p) for p in extra]
    folders += [Path(p) for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p.strip()]
    return folders


def _bundles_in(folder: Path) -> tuple[list[Bundle], list[str]]:
    """The bundles of one search folder and the problems met; a broken card skips that card only."""
    if not folder.is_dir():
        raise BundleNotFoundError(f"{folder}: listed in {MODEL_PATH_ENV} but is not a folder")
    if (folder / CARD_FILENAME).is_file():
        return [read_bundle(folder)], []
    if (folder / REGISTRY_FILENAME).is_file():
        return _registry_entries(folder / REGISTRY_FILENAME)
    bundles: list[Bundle] = []
    problems: list[str] = []
    for sub in sorted(folder.iterdir()):
        if not (sub / CARD_FILENAME).is_file():
            continue
        try:
            bundles.append(read_bundle(sub))
        except BundleError as exc:
            problems.append(f"{exc} (bundle skipped)")
    return bundles, problems


def discover_bundles(extra_folders: Sequence[str | os.PathLike] = ()) -> tuple[list[Bundle], list[str]]:
    """Every bundle that can be found, in search order, and the problems met on the way.

    A broken folder, registry entry or card does not hide the others: it is skipped and reported in the
    second list instead, each problem naming its file.

    Args:
        extra_folders: folders searched before ``CONDSWIN_MODEL_PATH`` (e.g. from a command-line option).

    Returns:
        ``(bundles, problems)``; an id found twice keeps its first bundle and the second is a problem.
    """
    bundles: list[Bundle] = []
    problems: list[str] = []
    sources = _search_folders(extra_folders)
    embedded = embedded_models_dir() / REGISTRY_FILENAME
    if embedded.is_file():
        sources.append(embedded)
    seen: dict[str, Bundle] = {}
    for where in sources:
        try:
            found, trouble = _registry_entries(where) if where == embedded else _bundles_in(where)
        except BundleError as exc:
            problems.append(str(exc))
            continue
        problems.extend(trouble)
        for bundle in found:
            if bundle.id in seen:
                problems.append(f"{bundle.source}: model id {bundle.id!r} is shadowed by {seen[bundle.id].source}")
                continue
            seen[bundle.id] = bundle
            bundles.append(bundle)
    return bundles, problems


def resolve_bundle(spec: str | os.PathLike, task: str | None = None) -> Bundle:
    """Find a bundle by path or id and check that it does ``task``.

    Args:
        spec: a bundle folder, a card/registry ``.json`` path, or a model id.
        task: the job the caller needs (``segmentation``, ``reconstruction``, ``denoising``), or None.

    Returns:
        The :class:`Bundle` (call :func:`condswin.bundles.load_bundle` to get the network).

    Raises:
        BundleNotFoundError: no such path or id; the message lists the ids available (or says none is).
        BundleError: the bundle is invalid or made for another task.
    """
    text = str(spec)
    path = Path(text).expanduser()
    looks_like_path = path.exists() or os.sep in text or "/" in text or text.endswith(".json")
    if looks_like_path:
        bundle = read_bundle(path)
    else:
        bundles, problems = discover_bundles()
        matches = [b for b in bundles if b.id == text]
        if not matches:
            usable = [b.id for b in bundles if task is None or b.task == task]
            available = (
                f"available {task or ''} models: {', '.join(usable)}".replace("  ", " ")
                if usable
                else f"no {task + ' ' if task else ''}model is installed (no trained model is embedded yet); "
                f"pass a bundle folder with --model PATH or add bundle folders to {MODEL_PATH_ENV}"
            )
            extra = f" (problems while searching: {'; '.join(problems)})" if problems else ""
            raise BundleNotFoundError(f"no model bundle with id {text!r}; {available}{extra}")
        bundle = matches[0]
    if task is not None and bundle.task != task:
        raise BundleError(f"{bundle.source}: model '{bundle.id}' is a {bundle.task} model, not a {task} model")
    return bundle


def is_default(bundle: Bundle) -> bool:
    """Whether a bundle's registry entry is marked ``"default": true``."""
    return bundle.card.extras.get(DEFAULT_FIELD) is True


def default_bundle(task: str, extra_folders: Sequence[str | os.PathLike] = ()) -> Bundle:
    """The model used for ``task`` when none is named.

    Locations are taken in the search order (``extra_folders``, ``CONDSWIN_MODEL_PATH``, the embedded
    registry), so a user's folder still stands in for the embedded models; the first location holding a model
    of ``task`` gives the entry marked ``"default": true``, else its first model of ``task``.

    Raises:
        BundleNotFoundError: no model of ``task`` anywhere (the message says how to provide one and lists the
            problems met while searching).
    """
    bundles, problems = discover_bundles(extra_folders)
    candidates = [b for b in bundles if b.task == task]
    if candidates:
        first_location = [b for b in candidates if b.source == candidates[0].source]
        return next((b for b in first_location if is_default(b)), first_location[0])
    extra = f" (problems while searching: {'; '.join(problems)})" if problems else ""
    raise BundleNotFoundError(
        f"no {task} model is available: no trained {task} model is embedded in {embedded_models_dir()} and none "
        f"was found in {MODEL_PATH_ENV}; pass --model PATH (a bundle folder made by condswin.bundles.save_bundle)"
        f"{extra}"
    )


def embed_bundle(
    bundle_dir: str | os.PathLike,
    models_dir: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    default: bool | None = None,
) -> Bundle:
    """Copy a bundle into a registry folder (default: the embedded ``Resources/Models``) and list it there.

    The weights go to ``<models_dir>/<id>/<weights file name>``; ``models.json`` gets (or, with
    ``overwrite``, replaces) the entry, written atomically. The checksum is verified before copying.

    ``default``: True marks the entry ``"default": true`` and unmarks the other models of its task; False
    leaves it unmarked; None keeps the mark of the entry it replaces (a new entry is unmarked).

    Returns:
        The registry's :class:`Bundle` for the copied model.

    Raises:
        BundleError: invalid bundle or checksum, or the id is already registered and ``overwrite`` is false.
    """
    source = read_bundle(bundle_dir)
    verify_weights(source)
    models_dir = Path(models_dir) if models_dir is not None else embedded_models_dir()
    registry_path = models_dir / REGISTRY_FILENAME
    data: dict[str, Any] = {"models": []}
    registered: list[Bundle] = []
    if registry_path.is_file():
        registered = read_registry(registry_path)  # refuse to extend a broken registry
        data = _load_json(registry_path)  # keeps its other top-level fields ($schema, schema_version)
    if any(b.id == source.id for b in registered) and not overwrite:
        raise BundleError(f"{registry_path}: model id {source.id!r} is already registered; pass overwrite=True")
    # A new file per content: models.json, written atomically last, is the one commit point. A process killed
    # before it leaves the registry and the weights it names as they were (plus an unlisted file).
    relative = f"{source.id}/{_weights_name(source)}"
    target = models_dir / relative
    with atomic_path(target) as tmp:
        shutil.copyfile(source.weights_path, tmp)
        if sha256_file(tmp) != source.card.sha256:
            raise BundleError(f"{source.weights_path}: copy to {target} does not match the card's sha256")
    replaced = next((b for b in registered if b.id == source.id), None)
    marked = default if default is not None else (replaced is not None and is_default(replaced))
    extras = {k: v for k, v in source.card.extras.items() if k != DEFAULT_FIELD}
    card = source.card.replace(weights=relative, extras=freeze({**extras, **({DEFAULT_FIELD: True} if marked else {})}))
    others = []
    for bundle in registered:
        if bundle.id == source.id:
            continue
        entry = bundle.card.to_dict()
        if marked and bundle.task == card.task:
            entry.pop(DEFAULT_FIELD, None)  # one default per task
        others.append(entry)
    data["models"] = others + [card.to_dict()]
    write_json_atomic(data, registry_path)
    if replaced is not None and replaced.card.weights != relative:
        listed = {entry.get("weights") for entry in data["models"]}
        if replaced.card.weights not in listed:  # the replaced model's weights, now named by no entry
            (models_dir / str(replaced.card.weights)).unlink(missing_ok=True)
    return Bundle(card=card, root=models_dir, source=registry_path)


def _weights_name(bundle: Bundle) -> str:
    """``model-<first 12 hex digits of the sha256>.safetensors``: a name that changes with the content."""
    stem, suffix = os.path.splitext(Path(bundle.weights_path).name)
    stem = stem.rsplit("-", 1)[0] if re.fullmatch(r".*-[0-9a-f]{12}", stem) else stem
    return f"{stem}-{str(bundle.card.sha256)[:12]}{suffix}"
