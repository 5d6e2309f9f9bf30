"""User-facing errors: one line, no traceback."""
from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class UserError(Exception):
    """Bad input from the user (a file, a flag, a checkpoint). The CLI prints
    `error: <message>` on one line and exits with status 2."""


def cli_main(main: Callable[[], T]) -> Callable[[], T]:
    """Wrap a CLI entry point so that UserError becomes one line on stderr."""

    @functools.wraps(main)
    def wrapped() -> T:
        try:
            return main()
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted: rerun with --resume True to continue from the last finished epoch", file=sys.stderr)
            sys.exit(130)

    return wrapped
