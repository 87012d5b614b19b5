"""``python -m condswin.samples [--out DIR] [--mr-source PATH] [--seed N]``: regenerate the sample data."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from condswin.errors import CondswinError
from condswin.samples.catalog import read_catalog, sample_data_dir
from condswin.samples.generate import SampleSettings, default_mr_source, make_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m condswin.samples", description=__doc__)
    parser.add_argument("--out", type=Path, default=sample_data_dir(), help="folder (default: Resources/SampleData)")
    parser.add_argument("--mr-source", type=Path, default=default_mr_source(), help="MR volume to crop (MNI152)")
    parser.add_argument("--seed", type=int, default=SampleSettings().seed, help="base seed")
    args = parser.parse_args(argv)
    try:
        catalog = make_samples(args.out, args.mr_source, replace(SampleSettings(), seed=args.seed))
        for sample in read_catalog(catalog.parent).files.values():
            print(f"{sample.file:36s} {sample.size_bytes / 1e6:6.2f} MB  sha256 {sample.sha256[:16]}…")
    except CondswinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
