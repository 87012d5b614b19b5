"""Python warnings raised while a command runs, reported through the :class:`Reporter` instead of raw stderr.

Library code tells the user about something that does not stop the job (an assumed pixel spacing, an uneven
DICOM slice gap, a label map given as an image) by ``warnings.warn(message, CondswinWarning)``. Under the
command line those become ``warning`` events (a JSON line with the input's ``file`` under ``--progress
json``, ``warning: ...`` on stderr otherwise), so the Slicer modules see them. Other warnings (a library's
deprecation notice) are shown as Python shows them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from condswin.cli.progress import Reporter
from condswin.errors import CondswinWarning

__all__ = ["reported_warnings"]


@contextlib.contextmanager
def reported_warnings(reporter: Reporter, file: str | None = None) -> Iterator[None]:
    """Report each :class:`CondswinWarning` raised in the block as a ``warning`` event about ``file``.

    The event is sent when the warning is raised, so it appears among the job's other events. Python's
    filters still apply (a warning repeated from one place is shown once, ``-W error`` makes it an error).
    Blocks nest: the innermost one (a job inside a command) names the file.

    Args:
        reporter: where warnings go.
        file: the input being processed, or None outside a job.
    """
    with warnings.catch_warnings():  # restores the previous showwarning and filters on the way out
        shown_before = warnings.showwarning

        def show(message: Any, category: type[Warning], filename: str, lineno: int, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, CondswinWarning):
                reporter.warning(str(message), file=file)
            else:
                shown_before(message, category, filename, lineno, *args, **kwargs)

        warnings.showwarning = show
        yield
