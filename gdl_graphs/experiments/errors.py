"""The one error type of the experiment commands and the wrapper that prints it."""
from __future__ import annotations

import sys
from typing import Callable, List, Optional


class UserError(ValueError):
    """A mistake in the command line or in the files it names; reported as one line that says
    what to do instead (exit status 2)."""


def _one_line_errors() -> tuple:
    from ..datasets import DatasetError
    from ..distributed import DistributedError, PartitionError
    from ..io.atomic import OutputError, WriteError
    return UserError, DatasetError, PartitionError, DistributedError, OutputError, WriteError


def cli(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Run ``main(argv)`` as a command: the user's mistakes (:class:`UserError`, dataset,
    partition, distributed and output errors, a full disk) become one line on stderr and exit
    status 2, ``Ctrl-C`` says how to continue (130), and the process group is closed whatever
    happens."""
    from .context import close_process_group
    clean = False
    try:
        rc = main(argv)
        clean = True
        return rc
    except _one_line_errors() as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted: continue with --resume', file=sys.stderr)
        return 130
    finally:
        close_process_group(clean)
