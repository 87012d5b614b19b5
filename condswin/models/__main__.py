"""`python -m condswin.models`: build every registered architecture and run it once on a synthetic slice.

A quick look at what the package offers (name, parameters, output shape, CPU time for one 256² slice) that
needs no weights or data. `python bench/models.py` measures the same models properly.
"""

from __future__ import annotations

import argparse
import time

import torch

from condswin.models import build_model, get_model_spec, list_models
from condswin.models.data_consistency import is_data_consistent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m condswin.models", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="side of the synthetic test slice")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(1, 1, args.size, args.size)
    print(f"{'model':16} {'params':>8}  {'output':>16}  {'ms':>7}  description")
    # data-consistency models take a complex image and a mask; each cascade costs its inner network (listed) + 2 FFTs
    for name in [n for n in list_models() if not is_data_consistent(n)]:
        model = build_model(name).eval()
        with torch.inference_mode():
            model(x)  # first call builds per-resolution caches
            start = time.perf_counter()
            y = model(x)
            ms = 1000 * (time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:16} {params:7.2f}M  {str(tuple(y.shape)):>16}  {ms:7.1f}  {get_model_spec(name).description}")


if __name__ == "__main__":
    main()
