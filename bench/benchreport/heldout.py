"""What the held-out bench scripts (``bench/recon_heldout.py``, ``bench/seg_heldout.py``) share: the held-out data
of a campaign recipe linked for a run, their command line, and their progress lines."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "Training" / "campaign.yaml"


def log(line: str) -> None:
    """A time-stamped progress line on stderr (stdout is the Markdown)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def held_out_sets(recipe_name: str, shared: Path, work: Path) -> list[Any]:
    """The held-out folders of the recipe ``recipe_name`` of ``Training/campaign.yaml``, their files linked from
    ``shared`` into ``work`` (never copied); the recipe refuses a held-out file that it also trains or validates on.

    Raises:
        InputNotFoundError: a held-out file missing from ``shared``.
    """
    from condswin.training.campaign import held_out_data, link_recipe_folders, load_recipes

    recipe = load_recipes(RECIPES)[recipe_name]
    folders = link_recipe_folders(recipe, shared, work / "data", only=[str(h.folder) for h in recipe.held_out])
    return list(held_out_data(recipe, folders))


def parse_section_args(prog: str, description: str, work: str, argv: list[str] | None) -> argparse.Namespace:
    """``--out``, ``--json``, ``--from-json``, ``--figure``, ``--shared`` and ``--work`` (default
    ``runs/bench/<work>``); ``--json`` defaults to ``--out`` with ``.json``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, help="write the Markdown section here (default: print it)")
    parser.add_argument(
        "--json", type=Path, help="the measured rows (default: --out with .json; needed with --from-json)"
    )
    parser.add_argument("--from-json", action="store_true", help="render the section from --json, measure nothing")
    parser.add_argument("--figure", type=Path, help="draw the figure here (when measuring)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="real samples folder")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / work, help="links, outputs")
    args = parser.parse_args(argv)
    if args.json is None and args.out is not None:
        args.json = args.out.with_suffix(".json")
    if args.from_json and args.json is None:
        parser.error("--from-json needs --json or --out (whose .json it reads)")
    return args
