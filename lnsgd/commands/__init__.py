"""The subcommands of `lnsgd`: each module adds one with `register(subparsers)` (see lnsgd/cli.py)."""
