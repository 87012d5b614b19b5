"""The repository stands alone: no tracked file points at something a reader of the repository does not have.

A reader has neither the design notes the project started from, nor its issue tracker, nor the documents it
was seeded with, so "DESIGN §4", "issue 11" or "seed 001" tell them nothing (and "seed 001" reads like a random
seed). What such a reference relied on belongs in the repository's own docs or in a comment, models are named
by their names and works cited by title (docs/architecture.md, "Sources").
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each pattern names what a reader cannot follow. Random seeds ("seed 0", "seed 2024") stay allowed: the document
# numbers are the zero-padded 000-009.
UNFOLLOWABLE = re.compile(
    r"\bDESIGN\b"  # the design notes outside the repository ("DESIGN §4", "DESIGN.md §8")
    r"|\b[Ii]ssues? #?[0-9]"  # issue-tracker numbers
    r"|\b[Ss]eeds? 00[0-9]"  # the seed documents ("seed 001", "seeds 000 and 001")
    r"|seed_?00[0-9]"  # ... in names ("seed001_timing.py", SEG_ARMS keys)
    r"|\bseed[-_](?:style|config)\b"  # ... as an adjective ("seed-style tables", "seed-config networks")
)


def _tracked_files() -> list[str]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error}): the tracked files cannot be listed")
    return [name for name in listing.decode("utf-8").split("\0") if name]


def unfollowable_references(names: list[str], root: Path) -> list[str]:
    """``path:line: text`` for every match of :data:`UNFOLLOWABLE` in the files' names and text lines."""
    found = []
    for name in names:
        if UNFOLLOWABLE.search(name):
            found.append(f"{name}: file name")
        path = root / name
        if not path.is_file():  # deleted in the working tree, not yet in the index
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary: weights, images, compressed volumes
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if UNFOLLOWABLE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:160]}")
    return found


def test_no_tracked_file_refers_to_design_notes_issues_or_seed_documents():
    this_file = Path(__file__).resolve().relative_to(ROOT).as_posix()
    names = [name for name in _tracked_files() if name != this_file]
    found = unfollowable_references(names, ROOT)
    assert not found, (
        "references a reader of the repository cannot follow (say what they relied on instead):\n" + "\n".join(found)
    )


def test_the_patterns_catch_each_kind_and_leave_random_seeds_alone(tmp_path):
    lines = {
        "DESIGN §4 defines the metrics": True,
        "see DESIGN.md §8": True,
        "the default (issue 11)": True,
        "Until issue 8 this package": True,
        "LinTUNet (seed 001)": True,
        "arms of seeds 000 and 001": True,
        "Seed 002: UNet-DCTD-A": True,
        "the seed-style table": True,
        "phantom seed 2024, seed 0, --seed 7": False,
        "the seed of file1000000.h5; tissue": False,
    }
    for number, (text, expected) in enumerate(lines.items()):
        (tmp_path / f"f{number}.md").write_text(text + "\n", encoding="utf-8")
        assert bool(unfollowable_references([f"f{number}.md"], tmp_path)) == expected, text
    assert unfollowable_references(["bench/seed001_timing.py"], tmp_path) == ["bench/seed001_timing.py: file name"]
