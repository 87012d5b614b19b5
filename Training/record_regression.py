"""Re-score registered models on their task's fixed regression sample and record it in the registry.

    python Training/record_regression.py liver-ct-cswin-light-1l

For when the sample changes (``python -m condswin.samples`` after a change of the CT phantom regenerates
Resources/SampleData): the regression tests hold every model to the number on its card, so the card must hold
the score on the sample that is shipped. The weights are untouched. See condswin.training.regression.

Exit codes: 0 recorded; 2 usage; 3 the sample is missing; 4 no such model or a bad registry; 5 the registry
cannot be written; 70 an internal error (traceback printed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run as a script: the checkout's condswin, not an installed one
    sys.path.insert(0, str(_ROOT))

from condswin.cli.errors import report_script_failure  # noqa: E402
from condswin.training.embedding import rerecord_regression_sample  # noqa: E402

SCRIPT = "Training/record_regression.py"


def main(argv: list[str] | None = None) -> int:
    """Re-record the regression sample of each named model; returns the exit code."""
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("model_ids", nargs="+", metavar="ID", help="registered model ids")
    parser.add_argument("--data-root", type=Path, default=_ROOT.parent / "shared" / "data", help="../shared/data")
    parser.add_argument("--models-dir", type=Path, default=None, help="registry folder (default: Resources/Models)")
    args = parser.parse_args(argv)
    try:
        for model_id in args.model_ids:
            rerecord_regression_sample(model_id, args.data_root, args.models_dir)
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        return report_script_failure(exc, SCRIPT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
