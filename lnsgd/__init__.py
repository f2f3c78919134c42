"""lnsgd — label-noise SGD workbench for two-layer linear networks.

The sub-packages live in the repository's top-level folders (theory/, solvers/, experiments/,
figures/) and are mapped into this namespace by pyproject.toml (docs/packaging.md).
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lnsgd")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
