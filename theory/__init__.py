"""lnsgd.theory — symbolic effective dynamics of label-noise SGD and SAM (sympy only).

Modules, one job each (docs/theory.md walks through them in order):
``symbols`` (named symbols, explicit/numeric evaluation), ``model`` (network, loss, Gauss–Newton),
``moments`` (exact per-step moments), ``sde`` (SDE, implicit λ), ``flow`` (regularized flow, closure,
per-neuron ODE), ``isotropic`` (closed forms), ``sam`` (SAM/USAM, oscillation), ``lazy`` (δ = 0),
``finite_eta`` (λ_eff), ``latex`` (export), ``catalog`` + ``codegen`` (→ solvers/generated_rhs.py).
"""
