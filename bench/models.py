"""Benchmark every registered model on CPU: parameters, GFLOP, latency, bf16, peak memory, and scaling.

Run:  python bench/models.py            (all variants, batch 8 at 256², about 5–10 minutes on 2 cores)
      python bench/models.py --quick    (the 1-layer Swin variants and `unet`, batch 2: a minute)
      python bench/models.py --no-bf16  (skip the bf16 autocast timing on CPUs that have it: half the time)
      python bench/models.py --interleave swin_unet_2l cswin_light_2l cswin_iter_2l --repeats 7
                                        (latency of a few models timed in alternation, for a loaded machine)

Prints Markdown tables (paste them into docs/benchmarks.md). Each model is measured in a fresh subprocess so
that its peak memory (peak RSS during the timed forwards minus RSS before them) is its own. Achieved GFLOP/s
is compared with this run's own fp32 matmul rate, measured at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

QUICK_MODELS = ["swin_unet_1l", "cswin_light_1l", "cswin_iter_1l", "unet"]
SCALING_MODELS = ["swin_unet_2l", "cswin_light_2l", "cswin_iter_2l", "unet"]
MONAI_REFERENCE = "monai_unet"


def build(name: str) -> torch.nn.Module:
    if name == MONAI_REFERENCE:
        from monai.networks.nets import UNet  # an outside reference point, not one of ours

        return UNet(
            spatial_dims=2,
            in_channels=1,
            out_channels=1,
            channels=(32, 64, 128, 256, 512),
            strides=(2, 2, 2, 2),
            num_res_units=2,
        )
    from condswin.models import build_model

    return build_model(name, in_channels=1, out_channels=1)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def time_forward(
    model: torch.nn.Module, x: torch.Tensor, repeats: int, bf16: bool = False
) -> tuple[float, torch.Tensor]:
    """Median seconds of ``repeats`` forwards after one warm-up, and the last output."""
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = model(x)  # warm-up: builds the per-resolution window layouts, primes oneDNN
        for _ in range(repeats):
            start = time.perf_counter()
            y = model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times), y.float()


def interleaved_latency(names: list[str], batch: int, size: int, repeats: int, threads: int) -> dict:
    """Median ms/slice of each model and median per-round latency ratio to the first, timed in alternation.

    Every round times one forward of each model (the order rotating from round to round), so a change of
    machine load (other jobs on shared cores) hits all of them alike; the per-round ratios cancel most of it.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    models = {name: build(name).eval() for name in names}
    x = torch.randn(batch, 1, size, size)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        for model in models.values():
            model(x)  # warm-up: window layouts, oneDNN primitives
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                models[name](x)
                times[name].append(time.perf_counter() - start)
            print(f"  round {r + 1}/{repeats} done", file=sys.stderr, flush=True)
    base = times[names[0]]
    return dict(
        ms={name: 1000 * statistics.median(t) / batch for name, t in times.items()},
        ratio={name: statistics.median(a / b for a, b in zip(t, base, strict=True)) for name, t in times.items()},
        spread={name: (1000 * min(t) / batch, 1000 * max(t) / batch) for name, t in times.items()},
    )


def gflop_per_slice(model: torch.nn.Module, size: int) -> float:
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.randn(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def measure_one(name: str, batch: int, size: int, repeats: int, threads: int, bf16: bool = True) -> dict:
    """Everything for one model (runs inside its own subprocess)."""
    from condswin.inference.device import cpu_has_native_bf16  # bf16 only pays off with native instructions

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name).eval()
    params = sum(p.numel() for p in model.parameters())
    gflop = gflop_per_slice(model, size)
    x = torch.randn(batch, 1, size, size)
    with torch.inference_mode():
        model(x)  # warm-up outside the memory window
    before = rss_bytes()
    seconds, y32 = time_forward(model, x, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    result = dict(model=name, params=params, gflop=gflop, ms=1000 * seconds / batch, peak_mb=max(peak, 0) / 2**20)
    if bf16 and cpu_has_native_bf16():
        s16, y16 = time_forward(model, x, repeats, bf16=True)
        result.update(
            ms_bf16=1000 * s16 / batch, bf16_max_diff=float((y16 - y32).abs().max()), out_range=float(y32.abs().max())
        )
    return result


def measure_scaling(name: str, sizes: list[int], repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name).eval()
    ms_per_mpx = {}
    for size in sizes:
        seconds, _ = time_forward(model, torch.randn(1, 1, size, size), repeats)
        ms_per_mpx[size] = 1000 * seconds / (size * size / 1e6)
    return dict(model=name, ms_per_mpx=ms_per_mpx)


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def in_subprocess(kind: str, **kwargs) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(kwargs)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_interleaved(names: list[str], batch: int, size: int, repeats: int, threads: int) -> None:
    load_before = os.getloadavg()[0]
    r = interleaved_latency(names, batch, size, repeats, threads)
    print(
        f"CPU: {cpu_name()}; torch {torch.__version__}; {threads} threads; batch {batch} of {size}², fp32; "
        f"{repeats} rounds, models timed in alternation; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after\n"
    )
    print(f"| model | median ms / slice | min–max ms / slice | median per-round ratio to {names[0]} |")
    print("|---|---:|---:|---:|")
    for name in names:
        low, high = r["spread"][name]
        print(f"| {name} | {r['ms'][name]:.1f} | {low:.0f}–{high:.0f} | {r['ratio'][name]:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1-layer variants and unet only, batch 2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="names to run (default: every registered model + MONAI UNet)")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast timing (halves the run)")
    parser.add_argument(
        "--interleave", nargs="+", metavar="NAME", help="only time these models in alternation (ratios to the first)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, kwargs = args.child[0], json.loads(args.child[1])
        result = measure_one(**kwargs) if kind == "one" else measure_scaling(**kwargs)
        print(json.dumps(result))
        return
    if args.interleave:
        print_interleaved(args.interleave, args.batch, args.size, args.repeats, args.threads)
        return

    from condswin.inference.device import cpu_has_native_bf16
    from condswin.models import list_models
    from condswin.models.data_consistency import is_data_consistent

    batch = 2 if args.quick else args.batch
    names = args.models or (
        QUICK_MODELS if args.quick else [n for n in list_models() if not is_data_consistent(n)] + [MONAI_REFERENCE]
    )
    peak = matmul_gflops(args.threads)
    bf16_note = "measured" if cpu_has_native_bf16() else "not measured (no AVX512-BF16/AMX on this CPU)"
    print(
        f"CPU: {cpu_name()}; torch {torch.__version__}; {args.threads} threads; "
        f"load average before the run: {os.getloadavg()[0]:.1f}; "
        f"fp32 matmul (2048², same run): {peak:.1f} GFLOP/s; bf16 autocast: "
        f"{'not measured (--no-bf16)' if args.no_bf16 else bf16_note}\n"
    )

    print(
        f"| model | params (M) | GFLOP / {args.size}² slice | CPU ms / slice (batch {batch}, fp32) | "
        f"achieved GFLOP/s | % of matmul rate | peak memory (MB) | bf16 ms / slice | bf16 max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in names:  # each row printed as soon as it is measured: a run cut short keeps what it measured
        r = in_subprocess(
            "one",
            name=name,
            batch=batch,
            size=args.size,
            repeats=args.repeats,
            threads=args.threads,
            bf16=not args.no_bf16,
        )
        rows.append(r)
        achieved = r["gflop"] / (r["ms"] / 1000)
        bf16 = (
            f"{r['ms_bf16']:.1f} | {r['bf16_max_diff']:.2e} (of {r['out_range']:.2f})"
            if "ms_bf16" in r
            else "n/a | n/a"
        )
        print(
            f"| {r['model']} | {r['params'] / 1e6:.2f} | {r['gflop']:.2f} | {r['ms']:.1f} | {achieved:.1f} | "
            f"{100 * achieved / peak:.0f} % | {r['peak_mb']:.0f} | {bf16} |",
            flush=True,
        )
    by_name = {r["model"]: r for r in rows}
    for plain, cond in (("swin_unet_2l", "cswin_light_2l"), ("swin_unet_1l", "cswin_light_1l")):
        if plain in by_name and cond in by_name:
            print(f"\n{cond} / {plain} latency: {by_name[cond]['ms'] / by_name[plain]['ms']:.2f}×")

    if not args.no_scaling and not args.quick:
        sizes = [128, 256, 384, 512]
        print("\nScaling, batch 1, CPU ms per megapixel (linear cost ⇒ flat rows):\n")
        print("| model | " + " | ".join(f"{s}²" for s in sizes) + " |")
        print("|---|" + "---:|" * len(sizes))
        for name in SCALING_MODELS:
            r = in_subprocess("scaling", name=name, sizes=sizes, repeats=args.repeats, threads=args.threads)
            print(f"| {name} | " + " | ".join(f"{r['ms_per_mpx'][str(s)]:.0f}" for s in sizes) + " |")


if __name__ == "__main__":
    main()
