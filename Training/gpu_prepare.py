"""Prepare a training campaign for a GPU machine that has no network, then embed its results back here.

    python Training/gpu_prepare.py --tasks denoise --minutes 9          # writes gpu_carry/ (git-ignored)
    # on the GPU machine, from the checkout's root, with gpu_carry/ beside the code:
    OUT=/path/that/comes/back bash gpu_carry/run.sh
    # back on this machine, with the returned folder:
    python Training/campaign.py --tasks denoise --embed-from /path/that/came/back

``gpu_carry/`` holds what the GPU machine lacks:

- ``data/``: real copies (links do not travel) of the training and validation data of each task's recipe
  (``Training/campaign.yaml``); held-out data stays here, because embedding happens here;
- ``wheels/``: the Python packages the GPU image does not have (default: SimpleITK, MONAI, bm3d, PyWavelets,
  slicerio), downloaded for its Python (``--python 3.12``) and installed there offline;
- ``run.sh``: installs the wheels offline, then runs ``Training/campaign.py --export-to "$OUT"`` for the budget
  (at most 9 minutes of training: the device tool lends 10-minute commands), which trains with the recipes'
  ``gpu_overrides`` (larger batches; bf16 by ``trainer.precision: auto``) and writes each task's bundle to
  ``$OUT/<task>/`` — two files per task, under the tool's 16 MiB per file.

The script adds up what would travel (the checkout's tracked and untracked files plus ``gpu_carry/``) and says
whether it fits a transfer limit (``--limit-mib``, default the device tool's 64 MiB); it exits 1 when it does
not, naming the largest parts. Other exit codes: 0 written and fits; 2 usage (``--minutes``, ``--tasks``,
``--out``, a bad recipe, a recipe's data missing under ``--data-root``, wheels pip could not download); 3 a
missing or unreadable recipe file; 70 an internal error (traceback printed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from condswin.cli.errors import report_script_failure  # noqa: E402
from condswin.errors import UsageError  # noqa: E402

DEFAULT_WHEELS = ("SimpleITK", "monai", "bm3d", "PyWavelets", "slicerio")
MAX_TRAINING_MINUTES = 9.0


def _tree_bytes(root: Path) -> int:
    """Bytes of what a checkout sends: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sum((root / name.decode()).stat().st_size for name in listed if name and (root / name.decode()).is_file())


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _copy_data(recipes: dict, tasks: list[str], data_root: Path, target: Path) -> None:
    """Copy each task's training and validation folders (not its held-out ones) from the data root."""
    for name in tasks:
        recipe = recipes[name]
        held = {str(h.folder) for h in recipe.held_out}
        for folder, files in recipe.folders.items():
            if folder in held:
                continue
            for relative in files:
                source, destination = data_root / relative, target / relative
                if not source.exists():
                    raise UsageError(f"{source}: data of the {name} recipe not found under --data-root")
                destination.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, destination, dirs_exist_ok=True)
                else:
                    shutil.copyfile(source, destination)


def _download_wheels(packages: list[str], python: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "-d",
        str(target),
        *packages,
    ]
    if subprocess.run(command, check=False).returncode != 0:
        raise UsageError(f"pip could not download wheels of {', '.join(packages)} for Python {python}")


def _run_script(tasks: list[str], minutes: float, carry: str) -> str:
    return f"""#!/usr/bin/env bash
# Written by Training/gpu_prepare.py. Run from the checkout's root on the GPU machine: OUT=... bash {carry}/run.sh
set -euo pipefail
OUT="${{OUT:?set OUT to the folder whose files come back}}"
if compgen -G "{carry}/wheels/*.whl" > /dev/null; then
  python3 -m pip install --quiet --no-index --no-deps {carry}/wheels/*.whl
fi
export PYTHONPATH="$PWD${{PYTHONPATH:+:$PYTHONPATH}}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 Training/campaign.py --hours {minutes / 60:.4f} --tasks {",".join(tasks)} --data-root {carry}/data \\
    --runs {carry}/runs --export-to "$OUT" --checkpoint-every 3 --no-nice
"""


def main(argv: list[str] | None = None) -> int:
    """Write the carry folder and report whether it fits; returns the exit code."""
    parser = argparse.ArgumentParser(prog="Training/gpu_prepare.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="seg,recon,denoise", help="comma-separated: seg, recon, denoise")
    parser.add_argument("--minutes", type=float, default=MAX_TRAINING_MINUTES, help="training minutes in all (<= 9)")
    parser.add_argument("--out", type=Path, default=_ROOT / "gpu_carry", help="the carry folder (replaced)")
    parser.add_argument("--recipes", type=Path, default=_ROOT / "Training" / "campaign.yaml")
    parser.add_argument("--data-root", type=Path, default=_ROOT.parent / "shared" / "data")
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python version (for the wheels)")
    parser.add_argument("--wheels", nargs="*", default=list(DEFAULT_WHEELS), help="packages to carry as wheels")
    parser.add_argument("--limit-mib", type=float, default=64.0, help="what may travel, in MiB")
    args = parser.parse_args(argv)
    try:
        if not 0 < args.minutes <= MAX_TRAINING_MINUTES:
            raise UsageError(f"--minutes: must lie in (0, {MAX_TRAINING_MINUTES:g}], got {args.minutes}")
        from condswin.training.campaign import load_recipes

        recipes = load_recipes(args.recipes)
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in tasks if t not in recipes]
        if unknown or not tasks:
            raise UsageError(f"--tasks: no recipe for {', '.join(unknown) or 'an empty list'}")
        out = args.out.resolve()
        try:
            carry = str(out.relative_to(_ROOT))
        except ValueError:
            raise UsageError(f"--out: {out} must lie inside the checkout {_ROOT} (only the checkout travels)") from None
        shutil.rmtree(out, ignore_errors=True)
        _copy_data(recipes, tasks, args.data_root, out / "data")
        if args.wheels:
            _download_wheels(args.wheels, args.python, out / "wheels")
        (out / "run.sh").write_text(_run_script(tasks, args.minutes, carry), encoding="utf-8")
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        return report_script_failure(exc, "Training/gpu_prepare.py")
    parts = {"the checkout (tracked and untracked files)": _tree_bytes(_ROOT)}
    for child in sorted(out.iterdir()):
        parts[f"{carry}/{child.name}"] = _folder_bytes(child) if child.is_dir() else child.stat().st_size
    total = sum(parts.values())
    for name, size in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"{size / 2**20:8.1f} MiB  {name}")
    if out.name not in (_ROOT / ".gitignore").read_text():
        print(f"note: {carry}/ is not in .gitignore; carry it explicitly (the device tool's `carry`)")
    fits = total <= args.limit_mib * 2**20
    print(f"{total / 2**20:8.1f} MiB in all; limit {args.limit_mib:g} MiB: {'fits' if fits else 'does NOT fit'}")
    if not fits:
        print("Leave out a task (--tasks), or the wheels the GPU machine already has (--wheels ...).", file=sys.stderr)
        return 1
    print(f"On the GPU machine: OUT=<folder that comes back> bash {carry}/run.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
