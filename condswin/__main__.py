"""``python -m condswin ...``: the same command line as the ``condswin`` script."""

import sys

from condswin.cli import main

if __name__ == "__main__":
    sys.exit(main())
