"""Options and the opening sequence shared by ``segment``, ``reconstruct`` and ``denoise``.

Each of the three commands declares IN, OUT, ``--report`` and ``--format`` with :func:`add_io_options`, the
model and run options with :func:`add_model_options` / :func:`add_run_options`, and starts with
:func:`open_run`: device check, input collection, output plan, threads, model load, in that order, so a
usage or output problem is reported before a model is loaded or any input is read.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condswin.bundles import LoadedModel, load_bundle, resolve_bundle
from condswin.bundles.registry import default_bundle
from condswin.cli.batch import StagedOutputs, collect_inputs, plan_inputs
from condswin.cli.options import integer
from condswin.cli.outputs import InputPlan
from condswin.cli.progress import PROGRESS_MODES, Reporter
from condswin.io.formats import READABLE_SUFFIXES, WRITABLE_SUFFIXES

# `condswin --help` imports this module: what loads torch or SimpleITK is imported where it is used (lazy).

if TYPE_CHECKING:
    import SimpleITK as sitk
    import torch

    from condswin.inference import InferenceOptions
    from condswin.jobs.results import JobResult

__all__ = [
    "Opening",
    "add_io_options",
    "add_run_options",
    "add_model_options",
    "open_run",
    "read_input",
    "stage_result",
    "load_model",
    "inference_options",
    "apply_threads",
    "usable_cores",
]


def add_io_options(parser: argparse.ArgumentParser, *, input_help: str, output_noun: str) -> None:
    """IN, OUT, ``--report`` and ``--format``: the inputs and outputs of a command that writes images.

    Args:
        parser: the command's parser.
        input_help: help of IN (what it reads).
        output_noun: what OUT holds (``"labelmap"``, ``"volume"``).
    """
    formats = ", ".join(WRITABLE_SUFFIXES)
    parser.add_argument("input", type=Path, metavar="IN", help=input_help)
    parser.add_argument("output", type=Path, metavar="OUT", help=f"{output_noun} file ({formats}) or folder")
    parser.add_argument("--report", type=Path, default=None, help="report path (single input; default: OUT with .json)")
    parser.add_argument(
        "--format",
        dest="suffix",
        type=str.lower,
        choices=WRITABLE_SUFFIXES,
        default=WRITABLE_SUFFIXES[0],
        help=f"{output_noun} format inside an output folder (default: {WRITABLE_SUFFIXES[0]})",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--progress`` and ``--overwrite``: every command that writes files has them."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress output: a tqdm bar on stderr (bar), one JSON object a line on stdout (json), "
        "or none; auto = bar on a terminal, else none (default: auto)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the inputs)")


def add_model_options(
    parser: argparse.ArgumentParser, task: str, *, model_help: str | None = None, with_model: bool = True
) -> None:
    """``--model`` (unless ``with_model`` is false), ``--device``, ``--batch-size``, ``--threads``, ``--no-amp``."""
    if with_model:
        parser.add_argument(
            "--model",
            metavar="ID|PATH",
            default=None,
            help=model_help
            or f"{task} model: a bundle folder, a model_card.json, or a model id from "
            "`condswin models` (default: the default model for this task, see docs/cli.md)",
        )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--batch-size",
        type=integer(low=1),
        default=8,
        metavar="N",
        help="slices per forward pass; halved automatically on out-of-memory (default: 8)",
    )
    parser.add_argument(
        "--threads",
        type=integer(low=1),
        default=None,
        metavar="N",
        help="CPU threads for torch, at most the usable CPU cores (default: torch's choice)",
    )
    parser.add_argument(
        "--no-amp",
        action="store_true",
        help="run in float32 (no mixed precision on CUDA, no bf16 on CPUs for models whose card allows it)",
    )


def load_model(spec: str | None, task: str, reporter: Reporter, device: torch.device | str = "cpu") -> LoadedModel:
    """Resolve a bundle (by path or id; without ``--model`` the task's default:
    :func:`condswin.bundles.registry.default_bundle`) and load it onto ``device``; its checksum is verified first."""
    bundle = default_bundle(task) if spec is None else resolve_bundle(spec, task=task)
    reporter.event(
        "model",
        message=f"model {bundle.id} ({bundle.card.architecture}, version {bundle.card.version}) from {bundle.source}",
    )
    return load_bundle(bundle, device=device)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def apply_threads(args: argparse.Namespace, reporter: Reporter) -> None:
    """Set torch's CPU thread count when ``--threads`` was given, at most the usable cores.

    More threads than cores only compete for them, and far more (``--threads 100000``) make the thread pools
    fail to start and crash the process; such a value is lowered to the cores, with a warning.
    """
    threads = getattr(args, "threads", None)
    if not threads:
        return
    cores = usable_cores()
    if threads > cores:
        reporter.warning(
            f"--threads {threads} is more than the {cores} CPU core(s) this process can use; using {cores}"
        )
        threads = cores
    import torch  # lazy: torch (see top)

    torch.set_num_threads(int(threads))


def inference_options(
    args: argparse.Namespace, device: torch.device, reporter: Reporter, stage: str, file: str
) -> InferenceOptions:
    """:class:`condswin.inference.InferenceOptions` from the command line, reporting to ``reporter``.

    Args:
        args: parsed options (``batch_size``, ``no_amp``).
        device: the device :func:`open_run` resolved ``--device`` to, once.
        reporter: progress output.
        stage: the progress events' stage (``infer``, ``denoise``).
        file: the input the events name.
    """
    from condswin.inference import InferenceOptions  # lazy: torch, SimpleITK (see top)

    return InferenceOptions(
        device=device,
        batch_size=args.batch_size,
        amp=not args.no_amp,
        progress=reporter.callback(stage, file),
    )


@dataclass
class Opening:
    """What a command has once its opening sequence succeeded.

    Attributes:
        plans: one per input, with every output path decided and checked.
        is_batch: IN was a folder of inputs.
        device: ``--device`` resolved (``auto`` decided, the device checked to exist); the model is on it.
        loaded: the loaded model bundle, or None when the command runs without one.
    """

    plans: list[InputPlan]
    is_batch: bool
    device: torch.device
    loaded: LoadedModel | None = None


def open_run(
    args: argparse.Namespace,
    reporter: Reporter,
    task: str,
    *,
    model: str | None = None,
    load: bool = True,
    readable: Sequence[str] = READABLE_SUFFIXES,
    datasets: bool = False,
    rename: Callable[[str], str] = lambda stem: stem,
    protected: Sequence[Path] = (),
    check_inputs: Callable[[bool], None] | None = None,
) -> Opening:
    """The opening sequence of ``segment``, ``reconstruct`` and ``denoise``.

    Args:
        args: parsed options (``input``, ``output``, ``suffix``, ``report``, ``overwrite``, ``device``,
            ``threads``).
        reporter: progress output (the ``model`` event).
        task: the model's task, for the default model and the bundle's task check.
        model: bundle id or path (None: the default model for ``task``).
        load: load a model at all (False for the zero-filled baseline and the classical denoisers).
        readable: suffixes of the input files a folder is searched for.
        datasets: recognise LiTS/Decathlon folders (``segment``).
        rename: maps an input stem to its output stem.
        protected: the command's other inputs (``--reference``); outputs may not replace them.
        check_inputs: called with ``is_batch`` once the inputs are known, to check options that depend on it.

    Returns:
        The :class:`Opening`.

    Raises:
        UsageError, InputError, OutputError, ModelError: in the order of the steps above.
    """
    from condswin.inference import resolve_device  # lazy: torch, SimpleITK (see top)

    device = resolve_device(args.device)
    inputs, is_batch = collect_inputs(args.input, readable, datasets=datasets)
    if check_inputs is not None:
        check_inputs(is_batch)
    plans = plan_inputs(
        inputs,
        is_batch,
        args.output,
        default_suffix=args.suffix,
        report=args.report,
        rename=rename,
        overwrite=args.overwrite,
        protected=protected,
    )
    apply_threads(args, reporter)
    return Opening(plans, is_batch, device, load_model(model, task, reporter, device) if load else None)


def read_input(plan: InputPlan, reporter: Reporter, expected: str = "an image") -> sitk.Image:
    """Read an input image (a ``read`` event first) and warn when it looks like a label map.

    Args:
        plan: the input and its outputs.
        reporter: progress output.
        expected: what the command expects, for the warning (``"a CT image"``, ``"an MR image"``).

    Returns:
        The image.
    """
    from condswin.io.images import is_label_map, read_image  # lazy: SimpleITK (see top)

    file = str(plan.input)
    reporter.event("read", message=f"reading {plan.input}", file=file)
    image = read_image(plan.input)
    if is_label_map(image):
        reporter.warning(
            f"{plan.input}: looks like a label map (a few small integer values), not {expected}; "
            "the result is probably meaningless",
            file=file,
        )
    return image


def stage_result(
    plan: InputPlan, result: JobResult, staged: StagedOutputs, reporter: Reporter, *, output_key: str = "output"
) -> dict[str, Any]:
    """Report a job result's notices and stage its image and JSON report (the report names both files).

    Args:
        plan: the input and its ``image`` and ``report`` outputs.
        result: what :mod:`condswin.jobs` returned (``output``, ``report``, ``notices``).
        staged: the input's staged outputs (renamed into place together when its job succeeds).
        reporter: progress output.
        output_key: the report's key for the written image (``labelmap`` for segmentations).

    Returns:
        The job's report, for the summary line.
    """
    file = str(plan.input)
    for notice in result.notices:
        reporter.warning(notice, file=file)
    staged.write_image(result.output, plan.outputs["image"], segments=result.segments)
    staged.write_json({"input": file, output_key: str(plan.outputs["image"]), **result.report}, plan.outputs["report"])
    return result.report
