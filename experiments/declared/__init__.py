"""Declared models (lnsgd.theory.declarations) run end to end: config, simulation, flow prediction, check."""
