"""lnsgd.solvers"""
