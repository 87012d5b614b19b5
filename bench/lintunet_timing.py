"""LinTUNet's timing claim — 0.2 ms vs the U-Net's 1.4 ms per image — checked on this machine.

The claim is from the slides of "LinTUNet: A Hybrid CNN-Transformer Architecture for Medical Image
Segmentation" (L. Menegus, PACISE 2025).

Two measurements:

1. CPU milliseconds per image of ``lintunet`` and ``unet`` (the registered defaults: the same fastMRI
   U-Net, 32 channels, 4 pools; LinTUNet adds Linformer + local + strided attention blocks in the
   bottleneck) at matched input sizes, batch 1 and 8: median over repeats after warm-up, under
   ``torch.inference_mode``. Also parameters and GFLOP per image (2 × multiply-adds, counted by
   ``torch.utils.flop_counter``). The slides do not give the image size; 128² is the usual input of
   the Keras U-Net tutorials such projects start from, so it is measured along with 256².
2. Peak memory of one bottleneck attention layer against the number of tokens: full attention vs
   Linformer (k = 64) vs the two sparse patterns, from ``torch.profiler`` memory events on CPU
   (allocations and frees replayed in time order).

Usage::

    python bench/lintunet_timing.py                      # print the tables
    python bench/lintunet_timing.py --append docs/benchmarks.md   # and append the markdown section
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from condswin.models import build_model  # noqa: E402
from condswin.models.efficient_attention import (  # noqa: E402
    FullSelfAttention,
    LinformerSelfAttention,
    SparseSelfAttention,
)

CLAIMED_MS = {"lintunet": 0.2, "unet": 1.4}


def cpu_model_name() -> str:
    """The CPU model from ``lscpu`` (falls back to ``platform.processor()``)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def gflop_per_image(model: torch.nn.Module, size: int) -> float:
    """Floating-point operations (2 × multiply-adds) of one forward pass on a 1×1×size×size image."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def ms_per_image(
    models: dict[str, torch.nn.Module], size: int, batch: int, repeats: int, warmup: int
) -> dict[str, float]:
    """Median wall time of a forward pass divided by the batch size, in milliseconds, per model.

    The models are timed in alternation within every repeat, so a change in machine load (other jobs on
    a shared machine) hits all of them alike instead of biasing whichever ran during the busy spell.
    """
    x = torch.randn(batch, 1, size, size)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000.0 / batch for name, t in times.items()}


def peak_bytes(fn) -> int:
    """Peak of live CPU bytes allocated while ``fn`` runs, from the profiler's memory events.

    Every op's own allocations (net of its own frees) and every free event are summed in time order;
    the running maximum is the peak at op granularity. Inputs allocated before ``fn`` are not counted.
    """
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def timing_rows(sizes: list[int], batches: list[int], repeats: int, warmup: int) -> list[dict]:
    """One row per (model, size): parameters, GFLOP/image, ms/image at every batch size."""
    rows = []
    for size in sizes:
        models = {
            "unet": build_model("unet").eval(),
            "lintunet": build_model("lintunet", image_size=size).eval(),
        }
        size_rows = {
            name: {
                "model": name,
                "size": size,
                "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                "gflop": gflop_per_image(model, size),
            }
            for name, model in models.items()
        }
        for batch in batches:
            for name, ms in ms_per_image(models, size, batch, repeats, warmup).items():
                size_rows[name][f"ms_b{batch}"] = ms
            print(f"  timed {size}², batch {batch}", file=sys.stderr)
        rows += size_rows.values()
    return rows


def memory_rows(token_grids: list[int], dim: int, heads: int, proj_len: int, full_limit: int) -> list[dict]:
    """Peak MiB of one attention layer per token count (full attention only up to ``full_limit`` tokens)."""
    rows = []
    for side in token_grids:
        n, grid = side * side, (side, side)
        x = torch.randn(1, n, dim)
        layers = {
            "full": FullSelfAttention(dim, heads),
            "linformer": LinformerSelfAttention(dim, heads, grid, proj_len),
            "local": SparseSelfAttention(dim, heads, "local"),
            "strided": SparseSelfAttention(dim, heads, "strided"),
        }
        row = {"tokens": n, "grid": f"{side}×{side}"}
        for kind, layer in layers.items():
            layer.eval()
            if kind == "full" and n > full_limit:
                row[kind] = None
                continue
            row[kind] = peak_bytes(lambda layer=layer, x=x, grid=grid: layer(x, grid)) / 2**20
        rows.append(row)
    return rows


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown_section(timing: list[dict], memory: list[dict], batches: list[int], meta: dict) -> str:
    """The "LinTUNet timing claim" section for docs/benchmarks.md."""
    lines = [
        "## LinTUNet timing claim: LinTUNet vs U-Net",
        "",
        f"Machine: {meta['cpu']}, {meta['cores']} cores, torch {meta['torch']}, {meta['threads']} intra-op thread(s); "
        f"CPU only, `torch.inference_mode`, median of {meta['repeats']} runs after {meta['warmup']} warm-up runs, "
        "the two models timed in alternation. "
        f"Command: `python bench/lintunet_timing.py`. Both models are the registered defaults (fastMRI U-Net, "
        "32 channels, 4 pools; LinTUNet = the same U-Net + Linformer, local and strided attention blocks in the "
        "bottleneck, `image_size` set to the input size). The slides do not state the image size; 128² is our "
        "guess (the usual Keras U-Net tutorial input), 256² is this project's slice size.",
        "",
        "| model | input | params (M) | GFLOP/image | "
        + " | ".join(f"ms/image, batch {b}" for b in batches)
        + " | claimed (ms/image) |",
        "|---|---|---|---|" + "---|" * len(batches) + "---|",
    ]
    for row in timing:
        cells = " | ".join(_fmt(row[f"ms_b{b}"]) for b in batches)
        lines.append(
            f"| {row['model']} | {row['size']}² | {row['params_m']:.2f} | {row['gflop']:.2f} | {cells} | "
            f"{CLAIMED_MS[row['model']]} |"
        )
    lines += [
        "",
        f"Peak memory (MiB) of one bottleneck attention layer (dim {meta['dim']}, {meta['heads']} heads, batch 1) "
        f"vs tokens, from `torch.profiler` memory events; Linformer k = {meta['proj_len']}; sparse span = grid width, "
        "so those patterns grow as n^1.5 (— : full attention not run, its n² scores take gigabytes):",
        "",
        "| tokens | grid | full | Linformer | local window | strided |",
        "|---|---|---|---|---|---|",
    ]
    for row in memory:
        lines.append(
            f"| {row['tokens']} | {row['grid']} | {_fmt(row['full'])} | {_fmt(row['linformer'])} | "
            f"{_fmt(row['local'])} | {_fmt(row['strided'])} |"
        )
    lines += ["", meta["verdict"], ""]
    return "\n".join(lines)


def verdict(timing: list[dict], memory: list[dict], batches: list[int]) -> str:
    """One paragraph: is the claim reproduced, and why."""
    by_key = {(r["model"], r["size"]): r for r in timing}
    parts = []
    for size in sorted({r["size"] for r in timing}):
        u, lt = by_key[("unet", size)], by_key[("lintunet", size)]
        b = batches[-1]
        parts.append(
            f"at {size}² LinTUNet takes {lt[f'ms_b{b}'] / u[f'ms_b{b}']:.2f}× the U-Net's time per image "
            f"(batch {b}) and {lt['gflop'] / u['gflop']:.2f}× its FLOPs"
        )
    lin = [r for r in memory if r["linformer"] is not None]
    full = [r for r in memory if r["full"] is not None]
    mem = ""
    if len(lin) >= 2 and len(full) >= 2:
        mem = (
            f" Linformer memory grows {lin[-1]['linformer'] / lin[-2]['linformer']:.1f}× per 4× tokens (linear), "
            f"full attention {full[-1]['full'] / full[-2]['full']:.1f}× (quadratic)."
        )
    b = batches[-1]
    ratios = [
        by_key[("lintunet", s)][f"ms_b{b}"] / by_key[("unet", s)][f"ms_b{b}"] for s in {r["size"] for r in timing}
    ]
    claimed = CLAIMED_MS["lintunet"] / CLAIMED_MS["unet"]
    if max(ratios) <= claimed * 1.5:
        head = "**Reproduced on CPU**"
    elif min(ratios) < 1.0:
        head = "**Partly reproduced on CPU** (faster, far from 7×)"
    else:
        head = "**Refuted on CPU**"
    why = (
        " Why: LinTUNet is the U-Net plus attention, so with the encoder and decoder matched it cannot be "
        "faster — attention on the 16×16 (256²) or 8×8 (128²) bottleneck costs little next to the "
        "full-resolution convolutions, but never less than nothing. Linformer makes the attention's cost "
        "linear in the number of tokens; it does not make the network cheaper than a CNN. A 7× speed-up like "
        "the slides' must come from a smaller network or from timing artefacts (warm-up or asynchronous GPU "
        "timing counted in one measurement and not the other)."
    )
    if min(ratios) < 1.0:
        why = (
            " LinTUNet does more arithmetic than the U-Net (see GFLOP), so a measured speed-up here points "
            "at timing noise on this machine; rerun on an idle machine before trusting it."
        )
    smallest = min(r["size"] for r in timing)
    u = by_key[("unet", smallest)]
    scale = (
        f" For scale: the U-Net needs {u['gflop']:.1f} GFLOP per {smallest}² image, so the slides' 1.4 ms/image "
        f"means {u['gflop'] / 1.4:.1f} TFLOP/s (a GPU, batched), while this CPU sustains "
        f"{u['gflop'] / u[f'ms_b{b}']:.3f} TFLOP/s."
    )
    return head + ": " + "; ".join(parts) + "." + why + scale + mem


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print the markdown section, optionally append it to a file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--token-grids", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--full-limit", type=int, default=4096, help="largest token count for full attention")
    parser.add_argument("--append", type=Path, default=None, help="append the markdown section to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    meta = {
        "cpu": cpu_model_name(),
        "cores": torch.multiprocessing.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "dim": 512,
        "heads": 8,
        "proj_len": 64,
    }
    print(f"{meta['cpu']}, torch {meta['torch']}, {meta['threads']} threads", file=sys.stderr)
    timing = timing_rows(args.sizes, args.batches, args.repeats, args.warmup)
    memory = memory_rows(args.token_grids, meta["dim"], meta["heads"], meta["proj_len"], args.full_limit)
    meta["verdict"] = verdict(timing, memory, args.batches)
    section = markdown_section(timing, memory, args.batches, meta)
    print(section)
    if args.append is not None:
        with open(args.append, "a", encoding="utf-8") as handle:  # append only: other sections are not ours
            handle.write("\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
