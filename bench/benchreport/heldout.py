"""What the held-out bench scripts (``bench/recon_heldout.py``, ``bench/seg_heldout.py``) share: the held-out data
of a campaign recipe linked for a run, their command line, their progress lines, and the run of a section
(measure or read back, cache, render, write)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
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


def run_section(
    args: argparse.Namespace,
    argv: list[str] | None,
    script: str,
    task: str,
    measure: Callable[[Any, str], dict[str, Any]],
    render: Callable[[dict[str, Any], str | None], str],
) -> int:
    """The body of a held-out script's ``main``: measure the installed default of ``task`` (``measure(bundle,
    command)``, which also draws the figure when asked and records its link as ``results["figure"]``) and cache the
    results in ``--json``, or with ``--from-json`` read them back; then render the section into ``--out`` (or print
    it). Without the shared data it says so and returns 0; without an installed default, 1.
    """
    if args.from_json:
        results = json.loads(args.json.read_text(encoding="utf-8"))
    else:
        if not args.shared.is_dir():
            log(f"{args.shared}: not here; {script} needs it (skipped)")
            return 0
        from condswin.training.embedding import current_default

        bundle = current_default(task, None)
        if bundle is None:
            log(f"no {task} default is installed")
            return 1
        command = shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)])
        results = measure(bundle, command)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = render(results, results.get("figure"))
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0
