"""One place for the look of every figure: rcParams, sizes, palette, symbols, and saving.

Figures are laid out for a journal page: a single column is 3.25 in wide, a double column 6.75 in,
panel heights follow the golden ratio. Text is set by LaTeX through matplotlib's PGF backend, so a
figure's ``.pgf`` file takes the fonts of the document that ``\\input``s it; its ``.pdf`` twin is
compiled by the same backend and looks the same. Every label uses plain LaTeX (no package beyond
``pgf`` is needed to compile the PGF), and the symbols are those of docs/model.md, kept in :data:`LABELS`.

The palette is Okabe–Ito (colour-blind safe); each role in the workbench (label-noise SGD, clean
SGD, SAM, theory, ...) has one fixed colour in :data:`ROLE_COLORS`.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from lnsgd.experiments.store import atomic_write

#: Journal widths in inches.
SINGLE_COLUMN = 3.25
DOUBLE_COLUMN = 6.75
#: Golden ratio: panel height = panel width / GOLDEN.
GOLDEN = (1 + 5**0.5) / 2

#: Okabe & Ito (2008), "Color Universal Design" palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: One colour per role, used by every figure.
ROLE_COLORS = {
    "label_noise": OKABE_ITO["blue"],
    "clean": OKABE_ITO["orange"],
    "sam": OKABE_ITO["bluish_green"],
    "usam": OKABE_ITO["reddish_purple"],
    "oscillation": OKABE_ITO["vermillion"],
    "gd": OKABE_ITO["sky_blue"],
    "theory": OKABE_ITO["black"],
    "noise_on": "0.9",  # light grey shading of noise-on intervals
}

#: Axis labels of the stored variables (docs/results-schema.md), in the symbols of docs/model.md.
LABELS = {
    "step": r"step $t$",
    "w_norm_mean": r"mean $\|w_k\|$",
    "a_abs_mean": r"mean $|a_k|$",
    "cos_abs_mean": r"mean $|\cos(w_k,\beta^*)|$",
    "beta_cos": r"$\cos(\beta,\beta^*)$",
    "w_rel_change": r"$\|W-W_0\|_F/\|W_0\|_F$",
    "ntk_rel_change": r"$\|K_t-K_0\|_F/\|K_0\|_F$",
    "train_loss": r"train loss $L(\theta)$",
    "test_loss": r"test loss",
    "trace_G": r"$\mathrm{tr}\,G$",
    "lambda_max_G": r"$\lambda_{\max}(G)$",
    "balance_drift": r"$\|D_t-D_0\|_F/\|D_0\|_F$",
    "delta": r"$\delta(t)$",
    "w_norm_k": r"$\|w_k\|$",
    "a_abs_k": r"$|a_k|$",
    "cos_abs_k": r"$|\cos(w_k,\beta^*)|$",
    "beta_error": r"$\|\beta-\beta^*\|_2$",
    "beta_l1": r"$\|\beta\|_1$",
    "input": r"coordinate $i$",
    "T_I": r"$T_{\mathrm{I}}$",
    "T_II": r"$T_{\mathrm{II}}$",
}

#: rcParams of every figure. ``pgf.rcfonts`` is off so the PGF inherits the document's fonts.
RC = {
    "pgf.texsystem": "pdflatex",
    "pgf.rcfonts": False,
    "pgf.preamble": "",
    "text.usetex": False,
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],  # only for the no-LaTeX fallback; PGF takes the document's
    "mathtext.fontset": "cm",
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.unicode_minus": False,
    "axes.linewidth": 0.6,
    "axes.prop_cycle": mpl.cycler(
        color=[
            OKABE_ITO[c]
            for c in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black")
        ]
    ),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "figure.dpi": 150,
    "savefig.dpi": 300,
    "savefig.pad_inches": 0.02,
}

#: The LaTeX preamble a document needs to ``\input`` our PGF files.
PGF_PREAMBLE = r"\usepackage{pgf}"


def context() -> contextlib.AbstractContextManager:
    """Context in which figures are built and saved with the workbench's rcParams."""
    return mpl.rc_context(RC)


def latex_available() -> bool:
    """True when pdflatex is on PATH (needed for PGF text metrics and PGF/PDF output)."""
    return shutil.which("pdflatex") is not None


def panel_size(width: float, ncols: int, nrows: int = 1, aspect: float = GOLDEN) -> tuple[float, float]:
    """Figure size (inches) for a ``nrows × ncols`` grid of panels ``aspect`` times wider than high."""
    if width <= 0 or ncols < 1 or nrows < 1:
        raise ValueError(f"panel_size: width={width}, ncols={ncols}, nrows={nrows} must be positive")
    return width, nrows * (width / ncols) / aspect


def new_figure(
    ncols: int = 1, nrows: int = 1, *, width: float = SINGLE_COLUMN, aspect: float = GOLDEN, **subplot_kw
) -> tuple[Figure, mpl.axes.Axes | list]:
    """A constrained-layout figure with a panel grid; returns ``(fig, axes)`` (axes as a flat list).

    Call inside :func:`context` so the artists pick up :data:`RC`.
    """
    fig = Figure(figsize=panel_size(width, ncols, nrows, aspect), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, list(axes.ravel())


def save(fig: Figure, stem: str | Path, formats: tuple[str, ...] = ("pdf", "pgf")) -> list[Path]:
    """Write ``fig`` as ``<stem>.pdf`` and ``<stem>.pgf`` (both through the PGF backend).

    The PGF file compiles when ``\\input`` into a document with :data:`PGF_PREAMBLE` (it defines
    ``\\mathdefault`` itself). Figures must not contain raster artists (the PGF would reference a
    side PNG by a relative path); the neuron picture draws its colour bar as vector patches. Without
    pdflatex only the PDF is written (mathtext instead of LaTeX) and a warning says so; run
    ``tools/ensure-tex.sh`` to install the toolchain.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with context():
        if not latex_available():
            warnings.warn(
                "pdflatex not found: writing PDF with mathtext only, no PGF (install TeX with tools/ensure-tex.sh)",
                stacklevel=2,
            )
            if "pdf" in formats:
                written.append(
                    atomic_write(
                        stem.parent / f"{stem.name}.pdf", lambda tmp: fig.savefig(tmp, format="pdf", backend="pdf")
                    )
                )
            return written
        for fmt in formats:
            written.append(
                atomic_write(stem.parent / f"{stem.name}.{fmt}", lambda tmp, fmt=fmt: _save_pgf_backend(fig, tmp, fmt))
            )
    side_images = sorted(
        [
            *stem.parent.glob(f"{stem.name}-img*.png"),  # also named after the temporary file
            *stem.parent.glob(f"{stem.name}.*.tmp-img*.png"),
        ]
    )
    if side_images:
        raise RuntimeError(
            f"{stem}: the figure has raster artists ({[p.name for p in side_images]}); "
            "the PGF would only compile next to them. Draw them as vectors."
        )
    return written


#: Defined inside the picture's group, so a document needs nothing but ``\usepackage{pgf}``.
_PGF_DEFINITIONS = "\\providecommand{\\mathdefault}[1]{#1}%\n"


def _save_pgf_backend(fig, path: str, fmt: str) -> None:
    """`fig` as `fmt` (pdf or pgf) through the PGF backend; a PGF file made self-contained."""
    fig.savefig(path, format=fmt, backend="pgf")
    if fmt == "pgf":
        _make_self_contained(Path(path))


def _make_self_contained(path: Path) -> None:
    """Insert the macros matplotlib's PGF text assumes (``\\mathdefault``) after ``\\begingroup``."""
    text = path.read_text()
    marker = "\\begingroup%\n"
    if marker not in text:
        raise RuntimeError(
            f"{path}: no '\\begingroup' in matplotlib's PGF output; cannot add "
            "\\mathdefault (matplotlib PGF format changed?)"
        )
    path.write_text(text.replace(marker, marker + _PGF_DEFINITIONS, 1))
