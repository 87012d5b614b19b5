"""A training campaign: continue each task's default model within a time budget, and embed what beats it.

For every task in turn, one training process at a time (:func:`run_campaign`):

1. the recipe's data files are linked into ``<runs>/data/<task>/<folder>/`` (inputs are never copied or
   changed);
2. the run folder ``<runs>/<task>-<recipe hash>/`` holds the runs of exactly this recipe: when its
   ``checkpoints/last.ckpt`` exists the run **resumes** from it (optimiser included), otherwise it starts from
   the installed default's weights (``--init-from``; from scratch only when no default is installed);
3. it trains for the task's share of the budget (``trainer.time_budget_min``), writing ``last.ckpt`` at least
   every ``checkpoint_every_min`` and when a SIGTERM arrives, validating per volume as configured;
4. the best checkpoint is exported and handed to :func:`condswin.training.embedding.embed_trained_bundle`,
   which replaces the task's default only when it scores higher on the recipe's held-out data;
5. ``<runs>/campaign.log`` gets one JSON line per task and ``<run folder>/learning_curve.png`` the curves of
   every process of that run folder.

A stop request (SIGTERM/SIGINT, :class:`StopRequest`) during training lets Lightning finish the batch, keeps the
checkpoint just written and embeds nothing; outside training it cancels at once, which is safe because the
registry's one commit point is an atomic write of ``models.json``.

The recipes live in a YAML file (``Training/campaign.yaml``); see :func:`load_recipes`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from condswin.bundles import CARD_FILENAME, parse_card, read_registry, resolve_bundle
from condswin.bundles.registry import REGISTRY_FILENAME
from condswin.errors import InputError, InputNotFoundError, JobCancelled, ModelError, UsageError
from condswin.io.atomic import write_json_atomic
from condswin.training.config import load_config, read_yaml
from condswin.training.embedding import EmbedRequest, HeldOut, bundle_folder, current_default, embed_trained_bundle

# Training/campaign.py checks its arguments and recipes with this module before anything trains, so what loads
# torch, Lightning, scipy or matplotlib (training, its callbacks, the learning curve) is imported where it is
# used.

__all__ = [
    "TASK_NAMES",
    "Recipe",
    "CampaignRequest",
    "TaskOutcome",
    "StopRequest",
    "load_recipes",
    "prepare_recipe",
    "PreparedRecipe",
    "start_bundle",
    "parse_hours",
    "run_campaign",
]

# Short task names of the command line → the training task they continue.
TASK_NAMES = {"seg": "segmentation", "recon": "reconstruction", "denoise": "denoising"}
LOG_NAME = "campaign.log"
CURVE_NAME = "learning_curve.png"


@dataclass(frozen=True)
class Recipe:
    """How a campaign continues one task's default.

    Attributes:
        name: ``seg``, ``recon`` or ``denoise``.
        default: the id of the installed default it continues.
        config: the training config (a path relative to the project root, or absolute).
        overrides: ``key=value`` overrides; ``{data}`` is the data root, ``{folders}`` this task's linked folders.
        folders: folder name → data files (relative to the data root) linked into it.
        held_out: the data the default decision is measured on (never training data); each folder is the name
            of one of the recipe's folders until :func:`run_task` places it under the linked data.
        limits / fp16 / sigmas / accelerations / noise: passed to the embedding.
        evaluation_min: minutes of the task's share kept for export and embedding (the rest trains).
        gpu_overrides: further overrides when training on a CUDA GPU (a larger batch, more loader workers).
        extend: the recipe's network adds layers to the default's (``train.py --init-from … --extend``).
        reinit: name prefixes of the default's tensors that start the run at their initialisation
            (``train.py --reinit``; e.g. ``net.head`` when the recipe changes what the network corrects).
        baselines: methods scored beside the task's own baseline on the held-out data (e.g. ``nlm``).
        keep_score_offsets: score and embed the trained network with the installed default's
            ``output.score_offsets``. The offsets calibrate a segmentation network's class scores to real data
            (a prior shift measured on validation scans); a network trained further from those weights on the same
            data keeps that shift, and without its offsets it would be compared with a calibrated default.
    """

    name: str
    default: str
    config: str
    overrides: tuple[str, ...]
    folders: Mapping[str, tuple[str, ...]]
    held_out: tuple[HeldOut, ...]
    limits: str
    fp16: bool = True
    sigmas: tuple[float, ...] = (0.05, 0.10)
    accelerations: tuple[float, ...] = (4.0, 8.0)
    noise: str = "rician"
    evaluation_min: float = 0.0
    gpu_overrides: tuple[str, ...] = ()
    extend: bool = False
    reinit: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()
    keep_score_offsets: bool = False

    @property
    def task(self) -> str:
        """The training task (``segmentation``, ``reconstruction``, ``denoising``)."""
        return TASK_NAMES[self.name]


_RECIPE_KEYS = {
    "default",
    "config",
    "overrides",
    "folders",
    "held_out",
    "limits",
    "fp16",
    "sigmas",
    "accelerations",
    "noise",
    "evaluation_min",
    "gpu_overrides",
    "extend",
    "reinit",
    "baselines",
    "keep_score_offsets",
}


def load_recipes(path: str | os.PathLike) -> dict[str, Recipe]:
    """Read the campaign's recipe file (YAML: ``tasks: {seg: {...}, recon: {...}, denoise: {...}}``).

    Raises:
        InputNotFoundError / InputError: a missing or unreadable file.
        UsageError: an unknown task or key, or a missing required key (naming the file and the key).
    """
    path = Path(path)
    values = read_yaml(path, "campaign recipe file")
    tasks = values.get("tasks") if isinstance(values, dict) else None
    if not isinstance(tasks, dict) or not tasks:
        raise UsageError(f"{path}: tasks: expected a mapping of {', '.join(TASK_NAMES)} to recipes")
    unknown_top = sorted(set(values) - {"tasks", "validation_only"})
    if unknown_top:
        raise UsageError(f"{path}: {unknown_top[0]}: unknown key; the file holds tasks and validation_only")
    validation_only = values.get("validation_only") or []
    if not isinstance(validation_only, list) or not all(isinstance(f, str) and f for f in validation_only):
        raise UsageError(f"{path}: validation_only: expected a list of data files (relative to the data root)")
    recipes = {}
    for name, entry in tasks.items():
        where = f"{path}: tasks.{name}"
        if name not in TASK_NAMES:
            raise UsageError(f"{where}: unknown task; one of {', '.join(TASK_NAMES)}")
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a mapping")
        unknown = sorted(set(entry) - _RECIPE_KEYS)
        if unknown:
            raise UsageError(f"{where}.{unknown[0]}: unknown key; a recipe accepts {', '.join(sorted(_RECIPE_KEYS))}")
        for key in ("default", "config", "held_out", "limits"):
            if not entry.get(key):
                raise UsageError(f"{where}.{key}: required")
        held_out = []
        held_names = {spec.get("folder") for spec in entry["held_out"] if isinstance(spec, dict)}
        for n, spec in enumerate(entry["held_out"]):
            if not isinstance(spec, dict) or set(spec) != {"folder", "kind", "description"}:
                raise UsageError(f"{where}.held_out[{n}]: needs exactly folder, kind and description")
            if spec["folder"] not in (entry.get("folders") or {}):
                raise UsageError(f"{where}.held_out[{n}].folder: {spec['folder']!r} is not one of the recipe's folders")
            others = {f for k, files in entry["folders"].items() if k not in held_names for f in files or ()}
            shared_files = sorted(set(entry["folders"][spec["folder"]] or ()) & others)
            if shared_files:
                raise UsageError(
                    f"{where}.held_out[{n}]: {', '.join(shared_files)} is also a training or validation input"
                )
            held_out.append(HeldOut(Path(str(spec["folder"])), str(spec["kind"]), str(spec["description"])))
        _check_held_out_stays_out(where, entry, held_names, validation_only)
        recipes[name] = Recipe(
            name=name,
            default=str(entry["default"]),
            config=str(entry["config"]),
            overrides=tuple(str(o) for o in entry.get("overrides") or ()),
            folders={str(k): tuple(str(f) for f in v) for k, v in (entry.get("folders") or {}).items()},
            held_out=tuple(held_out),
            limits=str(entry["limits"]),
            fp16=bool(entry.get("fp16", True)),
            sigmas=tuple(float(s) for s in entry.get("sigmas", (0.05, 0.10))),
            accelerations=tuple(float(a) for a in entry.get("accelerations", (4.0, 8.0))),
            noise=str(entry.get("noise", "rician")),
            evaluation_min=float(entry.get("evaluation_min", 0.0)),
            gpu_overrides=tuple(str(o) for o in entry.get("gpu_overrides") or ()),
            extend=bool(entry.get("extend", False)),
            reinit=tuple(str(p) for p in entry.get("reinit") or ()),
            baselines=tuple(str(b) for b in entry.get("baselines") or ()),
            keep_score_offsets=bool(entry.get("keep_score_offsets", False)),
        )
    return recipes


def _check_held_out_stays_out(
    where: str, entry: Mapping[str, Any], held_names: set[Any], validation_only: Sequence[str]
) -> None:
    """Refuse a recipe whose training could read its held-out data or a validation-only file.

    A held-out folder is linked for the default decision alone: an override naming it (``{folders}/<it>``, as
    ``data.root`` or ``data.val_root``) would train or choose checkpoints on it. A validation-only file (one
    whose licence forbids training on it, listed under ``validation_only`` in the recipe file) may sit in a
    held-out folder only, and no override may name it.

    Raises:
        UsageError: naming the recipe, the override or folder, and the file.
    """
    folders = entry.get("folders") or {}
    for override in (*(entry.get("overrides") or ()), *(entry.get("gpu_overrides") or ())):
        text = str(override)
        for folder in sorted(str(h) for h in held_names):
            if re.search(r"\{folders\}/" + re.escape(folder) + r"(/|$|\W)", text):
                raise UsageError(
                    f"{where}.overrides: {text!r} reads the held-out folder {folder!r} (held-out data never trains or validates)"
                )
        for file in validation_only:
            if file in text or Path(file).name in text:
                raise UsageError(f"{where}.overrides: {text!r} names {file}, which is validation-only data")
    for folder, files in folders.items():
        if folder in held_names:
            continue
        for file in validation_only:
            if file in (files or ()):
                raise UsageError(
                    f"{where}.folders.{folder}: {file} is validation-only data (its licence forbids training on it); "
                    "list it in a held-out folder only"
                )


def parse_hours(text: str) -> float:
    """``--hours``: a positive, finite number of hours.

    Raises:
        UsageError: zero, negative, not a number, or not finite.
    """
    try:
        hours = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--hours: expected a number of hours, got {text!r}") from None
    if not hours > 0 or hours == float("inf"):
        raise UsageError(f"--hours: must be a positive, finite number of hours, got {text!r}")
    return hours


@dataclass
class StopRequest:
    """Set by the campaign's SIGTERM/SIGINT handler; read between steps (see the module docstring)."""

    requested: bool = False
    training: bool = False
    signum: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        """Signal handler: during training only note it (Lightning stops after the batch), else cancel now."""
        self.requested = True
        self.signum = int(signum)
        if not self.training:
            raise JobCancelled(f"campaign stopped by signal {signum}")
        if signum == signal.SIGINT:
            # Lightning stops gracefully (after the batch, checkpoint written) on SIGTERM only
            os.kill(os.getpid(), signal.SIGTERM)


def _stop_callback(stop: StopRequest) -> Any:
    """A Lightning callback for a stop requested while the data was being prepared: Lightning's own SIGTERM
    handling starts with ``fit``, so a signal before it would otherwise go unnoticed for the whole budget."""
    from lightning.pytorch.callbacks import Callback  # lazy: Lightning (see top)

    class StopBeforeTraining(Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if stop.requested:
                raise JobCancelled(f"campaign stopped by signal {stop.signum} before training started")

    return StopBeforeTraining()


@dataclass(frozen=True)
class CampaignRequest:
    """One campaign: which tasks, how long in all, where data, runs and the registry are."""

    tasks: tuple[str, ...]
    hours: float
    recipes: Mapping[str, Recipe]
    project_root: Path
    data_root: Path
    runs: Path
    models_dir: Path | None = None
    checkpoint_every_min: float = 10.0
    command: str = "python Training/campaign.py"
    export_to: Path | None = None  # train and export only (bundles to <export_to>/<task>/), embed elsewhere
    embed_from: Path | None = None  # embed bundles exported by another machine's campaign, train nothing
    stop: StopRequest = field(default_factory=StopRequest)


@dataclass(frozen=True)
class TaskOutcome:
    """What one task's turn did (also the JSON line of the campaign log)."""

    task: str
    run_dir: Path
    start: str
    status: str
    record: dict[str, Any]


def _data_generator_versions() -> dict[str, str]:
    """The versions of the generated training data (CT phantoms, piecewise-smooth MR objects): a new generator
    makes new training and validation data, whose scores a resumed run must not compare with the old ones."""
    from condswin.training.data import ct_phantom, mr_volumes  # lazy: torch (see top)

    return {"ct_phantom": ct_phantom.CACHE_VERSION, "mr_synthetic": mr_volumes.SYNTHETIC_VERSION}


def _recipe_hash(recipe: Recipe, config_text: str, overrides: Sequence[str]) -> str:
    # the run folder of a recipe: same config, overrides, data and data generators → same folder → resume
    identity = {
        "config": config_text,
        "overrides": list(overrides),
        "folders": {k: list(v) for k, v in recipe.folders.items()},
        "generators": _data_generator_versions(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]


def link_recipe_folders(recipe: Recipe, data_root: Path, target: Path, only: Sequence[str] | None = None) -> Path:
    """Link each recipe folder's files (or those of the folders named in ``only``) from the data root into
    ``target/<folder>`` (absolute links; the data is never copied); returns ``target``.

    Raises:
        InputNotFoundError: a recipe file missing under the data root.
    """
    held_names = {str(h.folder) for h in recipe.held_out}
    for folder, files in recipe.folders.items():
        if only is not None and folder not in only:
            continue
        destination = target / folder
        destination.mkdir(parents=True, exist_ok=True)
        wanted = {Path(f).name for f in files}
        for stale in destination.iterdir():  # a folder holds exactly the recipe's files
            if stale.is_symlink() and stale.name not in wanted:
                stale.unlink()
        for name in files:
            source = (data_root / name).resolve()
            if not source.exists():
                what = "held-out file" if folder in held_names else "data"
                raise InputNotFoundError(f"{data_root / name}: {what} of the {recipe.name} recipe not found")
            link = destination / Path(name).name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == source:
                    continue
                link.unlink()
            link.symlink_to(source)
    return target


def held_out_data(recipe: Recipe, folders: Path) -> tuple[HeldOut, ...]:
    """The recipe's held-out data in ``folders`` (where :func:`link_recipe_folders` linked them)."""
    return tuple(HeldOut(folders / h.folder, h.kind, h.description) for h in recipe.held_out)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _append_log(runs: Path, record: Mapping[str, Any]) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / LOG_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")


def _write_curves(run_dir: Path, title: str, log: Callable[[str], None]) -> Path | None:
    # lazy: matplotlib, scipy (see top)
    from condswin.evaluation.figures import save_figure
    from condswin.training.evaluation.curves import curves_figure, read_training_log

    try:
        figure = curves_figure(read_training_log(run_dir), title=title)
    except (InputError, UsageError) as exc:  # no log yet (e.g. stopped before the first logged step)
        log(f"campaign: no learning curve for {run_dir}: {exc}")
        return None
    path = run_dir / CURVE_NAME
    save_figure(figure, path)
    return path


@dataclass(frozen=True)
class PreparedRecipe:
    """A recipe made concrete: its config file, run folder, linked data folders and filled-in overrides."""

    config_path: Path
    run_dir: Path
    folders: Path
    overrides: tuple[str, ...]


def prepare_recipe(
    recipe: Recipe, project_root: Path, data_root: Path, runs: Path, gpu: bool | None = None
) -> PreparedRecipe:
    """Link the recipe's data under ``runs/data/<task>`` and fill ``{data}`` / ``{folders}`` into its overrides
    (with the recipe's ``gpu_overrides`` after them when ``gpu``; None: when torch sees a CUDA device).

    Raises:
        InputNotFoundError: the config or a data file is missing.
    """
    config_path = Path(recipe.config)
    if not config_path.is_absolute():
        config_path = project_root / config_path
    if not config_path.is_file():
        raise InputNotFoundError(f"{config_path}: config of the {recipe.name} recipe not found")
    if gpu is None:
        import torch  # lazy: torch (see top)

        gpu = torch.cuda.is_available()
    chosen = (*recipe.overrides, *(recipe.gpu_overrides if gpu else ()))
    run_dir = runs / f"{recipe.name}-{_recipe_hash(recipe, config_path.read_text(encoding='utf-8'), chosen)}"
    folders = link_recipe_folders(recipe, data_root, runs / "data" / recipe.name)
    # plain replacement: overrides hold YAML braces of their own ({chans: 4})
    overrides = tuple(o.replace("{data}", str(data_root)).replace("{folders}", str(folders)) for o in chosen)
    return PreparedRecipe(config_path, run_dir, folders, overrides)


def run_task(request: CampaignRequest, recipe: Recipe, budget_s: float, log: Callable[[str], None]) -> TaskOutcome:
    """One task's turn (module docstring, steps 1-5)."""
    from condswin.training.run import train  # lazy: torch, Lightning (see top)

    prepared = prepare_recipe(recipe, request.project_root, request.data_root, request.runs)
    run_dir, folders = prepared.run_dir, prepared.folders
    reserve_s = min(recipe.evaluation_min * 60.0, budget_s / 2)
    train_min = (budget_s - reserve_s) / 60.0
    overrides = [
        *prepared.overrides,
        f"trainer.output_dir={run_dir}",
        f"trainer.time_budget_min={train_min:.4f}",
        f"trainer.checkpoint_every_min={min(request.checkpoint_every_min, train_min):.4f}",
    ]
    config = load_config(prepared.config_path, overrides)
    last = run_dir / "checkpoints" / "last.ckpt"
    resume = init_from = None
    if last.is_file():
        resume, start = str(last), f"resumed from {last}"
    else:
        init_from = start_bundle(recipe.default, request.models_dir, request.runs / "data" / recipe.name / "start")
        start = f"initialised from {recipe.default}" if init_from else "from scratch (no installed default)"
    extend = bool(init_from) and recipe.extend
    start_option = ["--resume", resume] if resume else ["--init-from", init_from] if init_from else []
    start_option += ["--extend"] if extend else []
    reinit = recipe.reinit if init_from else ()
    start_option += [option for prefix in reinit for option in ("--reinit", prefix)]
    command = shlex.join(["python", "Training/train.py", "--config", recipe.config, *overrides, *start_option])
    log(f"campaign {recipe.name}: {start}; training for {train_min:.1f} min in {run_dir}")
    started = time.monotonic()
    request.stop.training = True
    try:
        result = train(
            config,
            resume=resume,
            init_from=init_from,
            extend=extend,
            reinit=reinit,
            command=command,
            callbacks=[_stop_callback(request.stop)],
        )
    except BaseException:
        if request.stop.requested:
            _write_curves(run_dir, recipe.name, log)
            return TaskOutcome(recipe.name, run_dir, start, "interrupted", {"checkpoint": str(last)})
        raise
    finally:
        request.stop.training = False
    curves = _write_curves(run_dir, f"{recipe.name}: {run_dir.name}", log)
    record: dict[str, Any] = {
        "train_s": round(time.monotonic() - started, 1),
        "best_checkpoint": str(result.best_checkpoint),
        "monitor": result.monitor,
        "best_score": result.best_score,
        "curves": str(curves) if curves else None,
    }
    if request.stop.requested or result.bundle is None:
        return TaskOutcome(recipe.name, run_dir, start, "interrupted", record)
    card = json.loads(result.bundle.read_text(encoding="utf-8"))
    record["lineage_totals"] = card["training"]["lineage"]["totals"]
    if request.export_to is not None:  # trained elsewhere (a GPU machine): embedding happens back home
        target = request.export_to / recipe.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(result.bundle.parent, target)
        record["exported_to"] = str(target)
        return TaskOutcome(recipe.name, run_dir, start, "exported", record)
    return _embed(request, recipe, result.bundle.parent, folders, run_dir, start, record, log)


def _embed(
    request: CampaignRequest,
    recipe: Recipe,
    bundle: Path,
    folders: Path,
    work: Path,
    start: str,
    record: dict[str, Any],
    log: Callable[[str], None],
) -> TaskOutcome:
    """Hand a trained bundle to the embedding, which replaces the default only when it scores higher."""
    if recipe.keep_score_offsets:
        bundle = _with_default_score_offsets(bundle, recipe, request.models_dir, work / "calibrated", record, log)
    embed = EmbedRequest(
        bundle=bundle,
        held_out=held_out_data(recipe, folders),
        limits=recipe.limits,
        default=True,
        default_reason=f"continued by the training campaign ({request.command}); scored higher than the "
        "previous default on the same held-out data (metrics.default_decision)",
        fp16=recipe.fp16,
        accelerations=recipe.accelerations,
        sigmas=recipe.sigmas,
        noise=recipe.noise,
        extra_baselines=recipe.baselines,
        baseline_cache=request.runs / "baseline_cache",  # BM3D's scores of an unchanged held-out input: once
        models_dir=request.models_dir,
        work=work,
        shared=request.data_root,
    )
    outcome = embed_trained_bundle(embed, log=log)
    record["decision"] = outcome.decision
    status = "embedded" if outcome.registry is not None else "kept the default"
    return TaskOutcome(recipe.name, work, start, status, record)


def _with_default_score_offsets(
    bundle: Path,
    recipe: Recipe,
    models_dir: Path | None,
    target: Path,
    record: dict[str, Any],
    log: Callable[[str], None],
) -> Path:
    """A copy of ``bundle`` (at ``target``) whose card carries the installed default's score offsets; ``bundle``
    itself when the default has none. The trained bundle is left as exported."""
    current = current_default(recipe.task, models_dir)
    offsets = list(current.card.contract.score_offsets) if current is not None else []
    if not offsets:
        return bundle
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle, target)
    card_path = target / CARD_FILENAME
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.setdefault("output", {})["score_offsets"] = offsets
    parse_card(card, str(card_path))  # offsets that do not fit the network's outputs are refused here
    write_json_atomic(card, card_path)
    record["score_offsets"] = offsets
    log(f"campaign {recipe.name}: scored with the default's score offsets {offsets}")
    return target


def embed_exported(request: CampaignRequest, recipe: Recipe, log: Callable[[str], None]) -> TaskOutcome:
    """Embed a bundle a campaign exported on another machine (``<embed_from>/<task>/``), by the default decision.

    Raises:
        InputNotFoundError: no exported bundle of this task there.
    """
    assert request.embed_from is not None
    bundle = request.embed_from / recipe.name
    if not (bundle / CARD_FILENAME).is_file():
        raise InputNotFoundError(f"{bundle}: no exported {recipe.name} bundle (no {CARD_FILENAME})")
    prepared = prepare_recipe(recipe, request.project_root, request.data_root, request.runs)
    work = request.runs / f"embedded-{recipe.name}"
    work.mkdir(parents=True, exist_ok=True)
    card = json.loads((bundle / CARD_FILENAME).read_text(encoding="utf-8"))
    record = {"lineage_totals": card.get("training", {}).get("lineage", {}).get("totals")}
    return _embed(request, recipe, bundle, prepared.folders, work, f"exported to {bundle}", record, log)


def start_bundle(default_id: str, models_dir: Path | None, folder: Path) -> str | None:
    """The ``--init-from`` value for the installed default: its id in the embedded registry, or, with another
    registry, a copy of its entry as a bundle folder (an id resolves only in the embedded registry and
    ``CONDSWIN_MODEL_PATH``); None when it is not installed."""
    if models_dir is None:
        try:
            resolve_bundle(default_id)
        except ModelError:
            return None
        return default_id
    registry = models_dir / REGISTRY_FILENAME
    entry = next((b for b in read_registry(registry) if b.id == default_id), None) if registry.is_file() else None
    if entry is None:
        return None
    shutil.rmtree(folder, ignore_errors=True)
    return str(bundle_folder(entry, folder))


def run_campaign(request: CampaignRequest, log: Callable[[str], None] = print) -> list[TaskOutcome]:
    """Continue each requested task in turn within ``request.hours`` (module docstring).

    Raises:
        UsageError: a task without a recipe.
        JobCancelled: stopped outside training (nothing half-embedded; the log says so).
    """
    missing = [t for t in request.tasks if t not in request.recipes]
    if missing:
        raise UsageError(
            f"--tasks: no recipe for {', '.join(missing)}; the recipe file has {', '.join(request.recipes)}"
        )
    budget_s = request.hours * 3600.0 / len(request.tasks)
    outcomes = []
    for name in request.tasks:
        if request.stop.requested:
            break
        started = _now()
        try:
            if request.embed_from is not None:
                outcome = embed_exported(request, request.recipes[name], log)
            else:
                outcome = run_task(request, request.recipes[name], budget_s, log)
        except JobCancelled:
            _append_log(request.runs, {"task": name, "started": started, "ended": _now(), "status": "cancelled"})
            raise
        _append_log(
            request.runs,
            {
                "task": name,
                "started": started,
                "ended": _now(),
                "run_dir": outcome.run_dir,
                "start": outcome.start,
                "status": outcome.status,
                **outcome.record,
            },
        )
        log(f"campaign {name}: {outcome.status}")
        outcomes.append(outcome)
    return outcomes


def format_summary(outcomes: Sequence[TaskOutcome]) -> str:
    """One line per task: status, best validation score, lineage totals, the decision's reason."""
    lines = []
    for outcome in outcomes:
        record = outcome.record
        totals = record.get("lineage_totals") or {}
        decision = record.get("decision") or {}
        score = record.get("best_score")
        lines.append(
            f"{outcome.task}: {outcome.status}; {outcome.start}; "
            + (f"best {record.get('monitor')} {score:.4f}; " if isinstance(score, float) else "")
            + (f"lineage {totals.get('steps')} steps, {totals.get('wall_s', 0) / 3600:.2f} h; " if totals else "")
            + (f"decision: {decision.get('reason')}" if decision else "")
        )
    return "\n".join(lines)
