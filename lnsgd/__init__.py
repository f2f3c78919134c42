"""lnsgd — label-noise SGD workbench for two-layer linear networks.

The sub-packages live in the repository's top-level folders (theory/, solvers/, experiments/,
figures/) and are mapped into this namespace by pyproject.toml (docs/packaging.md).
"""

import os

# Parallelism lives at the level of processes (sweeps) and numba kernels; multithreaded BLAS on
# the small d × d and (2d+2) × m products of the observables only oversubscribes the cores
# (measured 0.08 ms single-threaded vs 14 ms with 2 threads on a loaded 2-core machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from lnsgd.experiments.provenance import package_version  # noqa: E402 (after the thread defaults)

__version__ = package_version()
