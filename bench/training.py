"""Training throughput of every model the training configs use: images/s of one optimiser step, and peak memory.

For each distinct (task, model, slice size, channels, loss) among ``Training/configs/*.yaml`` this times one
training step exactly as a run does it — the task module of ``condswin.training`` (its network, its loss,
its Adam), forward + loss + backward + gradient clipping at ``optim.grad_clip`` + ``Adam.step`` — on random
data of the config's slice size, in fp32 and in bf16 mixed precision (autocast around forward and loss,
as Lightning's ``bf16-mixed`` does) where the device has native bf16. Each (row, precision, device) runs
in a fresh subprocess, so its peak memory is its own.

Run:  python bench/training.py                 (every row, batch 8, 1 warm-up + 3 timed steps, fp32 and bf16:
                                                15-20 minutes on 2 CPU cores; --steps 2: 12-15 minutes)
      python bench/training.py --quick         (one row per model at 128², batch 2, 1 + 2 steps, fp32: a minute)
      python bench/training.py --models unet cdae --size 128 --batch 4 --steps 5
      python bench/training.py --device cuda   (only the GPU; default: the CPU, and the GPU when there is one)

Columns: images/s = batch / median seconds of the timed steps; peak RSS = the subprocess's high-water mark
(``ru_maxrss``: interpreter, torch and the model included); on CUDA also ``torch.cuda.max_memory_allocated``.
bf16 on the CPU is measured only when the CPU has native bf16 (AVX512-BF16 or AMX-BF16; emulated bf16 is
slower than fp32 and says nothing); the table says "not native" otherwise. Prints Markdown (paste into
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from models import cpu_name  # noqa: E402  (bench/models.py, beside this script)

CONFIG_DIR = ROOT / "Training" / "configs"
QUICK_SIZE = 128


@dataclass(frozen=True)
class Row:
    """One distinct training setup of the configs: what decides the cost of a step.

    Attributes:
        task: segmentation, reconstruction or denoising.
        model: registry name.
        size: (rows, columns) of the training slices.
        in_channels / out_channels: the network's channels for this task and data.
        loss: the loss the task module trains with.
        configs: the config files (stems) that share this setup; the first one is measured.
    """

    task: str
    model: str
    size: tuple[int, int]
    in_channels: int
    out_channels: int
    loss: str
    configs: tuple[str, ...]


def config_rows(config_dir: Path, size: int | None) -> list[Row]:
    """The distinct setups of every ``*.yaml`` in ``config_dir`` (configs differing only in data share a row).

    Args:
        config_dir: folder of training configs.
        size: a square slice size replacing every config's ``data.size``, or None.

    Returns:
        Rows in the order task, model, size.
    """
    from condswin.training.config import load_config
    from condswin.training.data.contract import channels
    from condswin.training.modules import MODULES

    rows: dict[tuple, list[str]] = {}
    for path in sorted(config_dir.glob("*.yaml")):
        config = load_config(path, [f"data.size=[{size},{size}]"] if size else [])
        in_channels, out_channels = channels(config)
        loss = config.optim.loss or MODULES[config.task].default_loss
        key = (config.task, config.model.name, tuple(config.data.size), in_channels, out_channels, loss)
        rows.setdefault(key, []).append(path.stem)
    return [Row(*key, configs=tuple(stems)) for key, stems in sorted(rows.items())]


def native_bf16(device: str) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and the evidence (for the table's header)."""
    import torch

    if device == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, f"torch.cuda.is_bf16_supported() = {ok}"
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        flags = set()
    found = sorted(flags & {"avx512_bf16", "amx_bf16"})
    capability = torch.backends.cpu.get_cpu_capability()
    if found:
        return True, f"native ({', '.join(found)}; torch CPU capability {capability})"
    return False, f"not native (no avx512_bf16/amx_bf16 in /proc/cpuinfo; torch CPU capability {capability})"


def _batch(row: Row, batch: int, device: str):
    """A random batch shaped like the task's real ones (a collated ``SliceSample``)."""
    import torch

    from condswin.training.data.samples import SliceSample

    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, row.in_channels, *row.size, generator=generator)
    if row.task == "segmentation":
        target = torch.randint(0, row.out_channels, (batch, *row.size), generator=generator)
    else:  # positive images: the masked losses take the foreground from them, SSIM their maximum
        target = torch.rand(batch, 1, *row.size, generator=generator)
    return SliceSample(
        image=image.to(device),
        target=target.to(device),
        volume=[f"bench-{i}" for i in range(batch)],
        slice_index=torch.arange(batch),
        scale=torch.ones(batch, dtype=torch.float64),
        offset=torch.zeros(batch, dtype=torch.float64),
    )


def measure(row: dict, config: str, batch: int, steps: int, warmup: int, bf16: bool, device: str, threads: int) -> dict:
    """Time training steps of one row (runs inside its own subprocess).

    Args:
        row: :class:`Row` as a dict.
        config: the config file whose module is built (its model overrides, loss and optimiser settings).
        batch: slices per step.
        steps / warmup: timed steps, and untimed steps before them (oneDNN primitives, window layouts,
            allocator pools).
        bf16: autocast forward and loss to bf16.
        device: ``cpu`` or ``cuda``.
        threads: intra-op threads.

    Returns:
        ``images_s``, ``step_s`` (median), ``step_s_min/max``, ``peak_rss_mb``, ``peak_device_mb`` (CUDA),
        ``loss_first/last`` (finite losses show the step really trains), ``params``.
    """
    import torch

    from condswin.training.config import load_config
    from condswin.training.modules import build_module

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = Row(**{**row, "size": tuple(row["size"]), "configs": tuple(row["configs"])})
    values = load_config(config, [f"data.size=[{spec.size[0]},{spec.size[1]}]"])
    module = build_module(values, spec.in_channels, spec.out_channels).to(device).train()
    optimizer = module.configure_optimizers()["optimizer"]
    parameters = [p for p in module.net.parameters() if p.requires_grad]
    data = _batch(spec, batch, device)
    clip = values.optim.grad_clip

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = module.compute_loss(module.net(data.image), data)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        return float(loss.detach())  # also waits for the device

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    losses = [step() for _ in range(warmup)]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
    if not all(math.isfinite(v) for v in losses):  # a step that produces NaN is not a training step
        raise FloatingPointError(f"non-finite training loss: {losses}")
    median = statistics.median(times)
    return dict(
        images_s=batch / median,
        step_s=median,
        step_s_min=min(times),
        step_s_max=max(times),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_device_mb=torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        loss_first=losses[0],
        loss_last=losses[-1],
        params=sum(p.numel() for p in parameters),
    )


def in_subprocess(**kwargs) -> dict:
    """:func:`measure` in a fresh interpreter (its own peak memory); an error comes back as ``{"error": …}``."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(kwargs)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def devices_to_measure(choice: str) -> list[str]:
    """``auto``: the CPU, plus CUDA when a GPU is visible; else the one named."""
    import torch

    if choice == "auto":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/training.py: --device cuda: no CUDA device is visible to torch")
    return [choice]


def _cell(result: dict, key: str, fmt: str) -> str:
    return "error" if "error" in result else format(result[key], fmt)


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="bench/training.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"one row per model, {QUICK_SIZE}², batch 2, 2 steps, fp32 only"
    )
    parser.add_argument("--batch", type=int, help="slices per step (default 8; 2 with --quick)")
    parser.add_argument("--size", type=int, help="square slice size for every row (default: each config's size)")
    parser.add_argument("--steps", type=int, help="timed steps per measurement (default 3; 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (default: all)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only rows of these registry names")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-bf16", action="store_true", help="fp32 only (halves the run)")
    parser.add_argument("--configs", type=Path, default=CONFIG_DIR, help=f"config folder (default {CONFIG_DIR})")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure the rows and print the Markdown table; returns the exit code (1 when a measurement failed)."""
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(measure(**json.loads(args.child))))
        return 0
    import torch

    batch = args.batch or (2 if args.quick else 8)
    steps = args.steps or (2 if args.quick else 3)
    if batch < 1 or steps < 1 or args.warmup < 0 or args.threads < 1:
        raise SystemExit("bench/training.py: --batch, --steps and --threads must be >= 1, --warmup >= 0")
    size = args.size or (QUICK_SIZE if args.quick else None)
    rows = config_rows(args.configs, size)
    if args.models:
        unknown = sorted(set(args.models) - {r.model for r in rows})
        if unknown:
            raise SystemExit(
                f"bench/training.py: --models: {', '.join(unknown)} not used by any config in {args.configs}"
            )
        rows = [r for r in rows if r.model in args.models]
    if args.quick:  # one row per model: its first config
        seen: set[str] = set()
        rows = [r for r in rows if not (r.model in seen or seen.add(r.model))]
    devices = devices_to_measure(args.device)

    print(
        f"CPU: {cpu_name()}; {os.cpu_count()} logical CPUs; {args.threads} threads; torch {torch.__version__}; "
        f"load average before the run: {os.getloadavg()[0]:.1f}"
    )
    bf16_by_device = {}
    for device in devices:
        ok, evidence = native_bf16(device)
        skip = "--quick" if args.quick else "--no-bf16" if args.no_bf16 else None
        bf16_by_device[device] = ok and skip is None
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        print(f"{device} ({name}): bf16 {evidence}{f'; not measured ({skip})' if ok and skip else ''}")
    print(
        f"\nOne training step = forward + loss + backward + grad-norm clip + Adam step; batch {batch}; "
        f"median of {steps} timed steps after {args.warmup} warm-up; each measurement in a fresh process.\n"
    )
    print(
        "| model | task (configs) | size | device | fp32 images/s | fp32 s/step (min–max) | fp32 peak RSS (MB) | "
        "bf16 images/s | bf16 / fp32 | bf16 peak RSS (MB) | peak device memory fp32 / bf16 (MB) |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    failed = False
    for row in rows:
        for device in devices:
            common = dict(
                row=asdict(row),
                config=str(args.configs / f"{row.configs[0]}.yaml"),
                batch=batch,
                steps=steps,
                warmup=args.warmup,
                device=device,
                threads=args.threads,
            )
            fp32 = in_subprocess(**common, bf16=False)
            bf16 = in_subprocess(**common, bf16=True) if bf16_by_device[device] else None
            failed = failed or "error" in fp32 or (bf16 is not None and "error" in bf16)
            if "error" not in fp32:
                timing = f"{fp32['step_s']:.2f} ({fp32['step_s_min']:.2f}–{fp32['step_s_max']:.2f})"
            else:
                timing = f"error: {fp32['error']}"
            if bf16 is None:
                bf16_cells = "not measured | – | –" if args.quick or args.no_bf16 else "not native | – | –"
            elif "error" in bf16:
                bf16_cells = f"error: {bf16['error']} | – | –"
            else:
                ratio = bf16["images_s"] / fp32["images_s"] if "error" not in fp32 else float("nan")
                bf16_cells = f"{bf16['images_s']:.2f} | {ratio:.2f}× | {bf16['peak_rss_mb']:.0f}"
            device_mb = "–"
            if device == "cuda" and "error" not in fp32:
                device_mb = f"{fp32['peak_device_mb']:.0f} / " + (
                    f"{bf16['peak_device_mb']:.0f}" if bf16 and "error" not in bf16 else "–"
                )
            configs = ", ".join(row.configs)
            print(
                f"| {row.model} | {row.task} ({configs}) | {row.size[0]}×{row.size[1]} | {device} | "
                f"{_cell(fp32, 'images_s', '.2f')} | {timing} | {_cell(fp32, 'peak_rss_mb', '.0f')} | "
                f"{bf16_cells} | {device_mb} |",
                flush=True,  # a run cut short keeps the rows it measured
            )
    print(f"\nLoad average after the run: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
