"""The `lnsgd` command line: one subcommand per module of lnsgd/commands/.

    lnsgd list | run PRESET | show RESULT.nc | theory | sweep SPEC | claims | check | figures
    lnsgd summary RESULTS_DIR

Bad input (an invalid option value, a missing or unreadable file) is reported as one sentence on
stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lnsgd.experiments.store import ResultFileError
from lnsgd.experiments.validation import ConfigError

#: Subcommands, in the order of `lnsgd --help`; each is lnsgd/commands/<name>.py with `register`.
COMMANDS = ("list", "run", "show", "theory", "sweep", "claims", "check", "figures", "summary")

#: Errors that mean "the input is wrong", reported as one sentence with exit status 2.
BAD_INPUT = (ConfigError, ResultFileError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default sys.argv[1:]), run the subcommand and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BAD_INPUT as err:
        print(f"lnsgd {args.command}: error: {_sentence(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lnsgd {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of COMMANDS registered."""
    parser = argparse.ArgumentParser(prog="lnsgd", description="Label-noise SGD workbench.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"lnsgd.commands.{name}").register(sub)
    return parser


def _sentence(err: BaseException) -> str:
    """The error as one line (OSErrors as 'reason: path')."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.strerror}: {err.filename}"
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
