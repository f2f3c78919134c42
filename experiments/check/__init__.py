"""`lnsgd check`: the effective-dynamics predictions against the mean of simulated noise paths.

grid (configurations and horizons), predict (the theories), measure (phase measures, path
statistics, targets), table (CSV and LaTeX), run (one configuration, a grid). docs/check.md.
"""
