"""examples/tour.ipynb executes from a clean kernel and draws its figures.

The notebook is run with nbclient in a temporary working directory, on a kernel of this
interpreter (a "python3" kernel spec written into the test's own folder, so a system-wide Jupyter
installation cannot substitute another Python). It must finish without an error and show its four
figures (image/png outputs): the theory/simulation overlay, the neuron snapshots and the two phase
diagrams of the sweep (one figure). The stored notebook carries no outputs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tour.ipynb"
#: Code cells that must display a figure (by a marker in their source).
FIGURE_CELLS = ("theory_styles", "snapshot=j", "build_phases(")
CELL_TIMEOUT = 600


def kernel_manager(folder: Path):
    """A KernelManager for 'python3' that runs this interpreter (sys.executable)."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kernels = folder / "kernels"
    kernels.mkdir()
    write_kernel_spec(str(kernels / "python3"))  # argv: [sys.executable, -m, ipykernel_launcher, ...]
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def test_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "clear the notebook's outputs"


def test_tour_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    km = kernel_manager(tmp_path)
    assert km.kernel_spec.argv[0] == sys.executable
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False, resources={"metadata": {"path": str(work)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on any error
    seconds = time.perf_counter() - start
    print(f"tour.ipynb executed in {seconds:.1f} s")

    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell failed: {cell.source[:80]!r}: {errors}"
    for marker in FIGURE_CELLS:
        cell = next(c for c in code if marker in c.source)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"no figure from the cell with {marker!r}"
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) >= len(FIGURE_CELLS)
    assert list(work.iterdir()) == [], "the notebook left files in its working directory"
