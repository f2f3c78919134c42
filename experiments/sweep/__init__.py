"""Sweeps: resumable parameter grids of direct simulations (docs/sweeps.md).

    spec = load_spec("sweeps/small.yaml")
    report = run_sweep(spec, out="results/sweeps/small", workers=2)       # or dask="tcp://..."
    ds = open_sweep("results/sweeps/small", part="phases")              # dims: eta, delta

The pieces live in small modules (import them directly; this file imports nothing, so a spawned
worker loads only what it needs): `spec` (what to run), `store` (one atomic file per
point, named by its config hash), `backends` (one submission loop, process-pool or Dask
backend), `combine` (the labelled Dataset) and `theory` (closed-form predictions).
"""
