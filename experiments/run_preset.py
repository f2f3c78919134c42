"""Run one config and store its result, reusing a stored result with the same config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from lnsgd.experiments.config import SimulationConfig, config_digest, config_json
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.provenance import provenance_attrs
from lnsgd.experiments.store import result_path, save


def config_from_values(values: dict[str, Any]) -> SimulationConfig | ModelConfig:
    """The config stored as `values`: a declared-model config when it names a `model`."""
    return ModelConfig(**values) if "model" in values else SimulationConfig(**values)


def simulate_any(config: Any, progress: bool = True) -> xr.Dataset:
    """Dispatch on the config's type: two-layer simulation, declared model or the real-data experiment."""
    if isinstance(config, SimulationConfig):
        from lnsgd.experiments.runner import simulate

        return simulate(config, progress=progress)
    if isinstance(config, ModelConfig):
        from lnsgd.experiments.declared.runner import simulate_model

        return simulate_model(config, progress=progress)
    from lnsgd.experiments.real.experiment import simulate_real

    return simulate_real(config, progress=progress)


def run_preset(name: str, config: Any, out: Path, *, force: bool = False, progress: bool = True) -> tuple[Path, bool]:
    """Simulate `config` and store it as `<out>/<name>-<hash>.nc`; returns (path, reused)."""
    digest = config_digest(config)
    path = result_path(out, name, digest)
    if path.exists() and not force:
        return path, True
    ds = simulate_any(config, progress=progress)
    if "git_commit" not in ds.attrs:
        ds.attrs.update(provenance_attrs(config_json(config), digest, getattr(config, "seed", 0)))
    ds.attrs["preset"] = name
    return save(ds, path), False
