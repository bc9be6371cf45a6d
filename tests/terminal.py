"""Child processes that get Ctrl-C as a terminal's foreground job does."""

from __future__ import annotations

import signal


def as_foreground_job() -> None:
    """A subprocess's `preexec_fn`: SIGINT back to its default action. A shell without job control (a CI
    script, `cmd &`) starts its background jobs with SIGINT ignored, every descendant inherits that, and
    Python then installs no KeyboardInterrupt handler, so a test's Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
