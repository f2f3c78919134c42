"""Real classification data for the erf-network experiment (docs/real-data.md).

Two sources, one output type (:class:`RealData`):

* ``load_digits_data`` — scikit-learn's bundled 8×8 digits (1797 images, 10 classes, d = 64), no
  download. It has no official split: the train and test subsets are drawn disjointly from it.
* ``load_cifar10_data`` — CIFAR-10 in its standard python-pickle batch format (``data_batch_1`` …
  ``data_batch_5`` and ``test_batch`` in a directory the user provides; d = 3072). Nothing is
  downloaded. The files are unpickled with an allow-list (numpy array reconstruction only), so a
  tampered file cannot run code.

Both apply the same preparation (``prepare``):

* class balance — ``n`` samples are split as evenly as possible over the C classes (the first
  ``n mod C`` classes get one more), drawn without replacement from each class;
* standardization — per input feature, x ← (x − μ)/σ with μ, σ of the *training subset* (σ = 0
  features, e.g. the always-blank digit corners, are only centred), so ‖x‖² ≈ d;
* targets — one-hot rows y_i = e_{c_i} ∈ {0, 1}^C.
"""

from __future__ import annotations

import importlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = 10
CIFAR10_DIM = 3072  # 3 × 32 × 32, channel-major rows as in the distributed files


@dataclass(frozen=True)
class RealData:
    """A standardized, class-balanced train/test pair with one-hot targets.

    x_train (n, d), y_train (n, C) one-hot, labels_train (n,) ints in [0, C); same for test.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray

    @property
    def n_classes(self) -> int:
        return self.y_train.shape[1]


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows e_{c_i} ∈ {0,1}^C, float64."""
    return np.eye(n_classes)[labels]


def balanced_indices(
    labels: np.ndarray, n: int, n_classes: int, rng: np.random.Generator, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Indices of a class-balanced subset of size n (first n mod C classes get one extra), sorted.

    Raises ValueError if some class has fewer available samples than it needs.
    """
    available = np.ones(labels.shape[0], dtype=bool)
    if exclude is not None:
        available[exclude] = False
    picks = []
    for c in range(n_classes):
        need = n // n_classes + (1 if c < n % n_classes else 0)
        pool = np.flatnonzero(available & (labels == c))
        if pool.size < need:
            raise ValueError(
                f"class {c} has {pool.size} available samples, {need} requested (n = {n} over {n_classes} classes)"
            )
        picks.append(rng.choice(pool, size=need, replace=False))
    return np.sort(np.concatenate(picks))


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x − μ)/σ per feature with the training subset's μ, σ; σ = 0 features are only centred."""
    mu = x_train.mean(axis=0)
    sigma = x_train.std(axis=0)
    sigma = np.where(sigma > 0, sigma, 1.0)
    return (x_train - mu) / sigma, (x_test - mu) / sigma


def prepare(
    name: str,
    x_train: np.ndarray,
    labels_train: np.ndarray,
    x_test: np.ndarray,
    labels_test: np.ndarray,
    n_classes: int,
) -> RealData:
    """Standardize with training statistics and attach one-hot targets."""
    xs_train, xs_test = standardize(np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64))
    return RealData(
        name,
        xs_train,
        one_hot(labels_train, n_classes),
        labels_train,
        xs_test,
        one_hot(labels_test, n_classes),
        labels_test,
    )


def load_digits_data(n_train: int, n_test: int, rng: np.random.Generator) -> RealData:
    """Disjoint class-balanced train/test subsets of scikit-learn's digits, standardized, one-hot."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, labels = bunch.data, bunch.target.astype(np.int64)
    train = balanced_indices(labels, n_train, 10, rng)
    test = balanced_indices(labels, n_test, 10, rng, exclude=train)
    return prepare("digits", x[train], labels[train], x[test], labels[test], 10)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction globals (all a batch needs).

    Files written by numpy 1.x name ``numpy.core.*``, numpy 2 renamed it ``numpy._core``; both map
    to whichever the installed numpy provides.
    """

    _ALLOWED = {
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),
        ("", "ndarray"),
        ("", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):  # protocol-2 bytes written under Python 3
            return super().find_class(module, name)
        parts = module.split(".")
        sub = parts[2] if len(parts) == 3 and parts[1] in ("core", "_core") else ""
        if parts[0] != "numpy" or len(parts) not in (1, 3) or (sub, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
        return getattr(importlib.import_module(f"{core}.{sub}" if sub else "numpy"), name)


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file → (data (N, 3072) uint8, labels (N,) int64); ValueError if malformed."""
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
    ) as err:
        raise ValueError(f"{path} is not a CIFAR-10 python-pickle batch: {type(err).__name__}: {err}") from err
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch: expected a dict, got {type(batch).__name__}")
    keys = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in keys or "labels" not in keys:
        raise ValueError(f"{path} is not a CIFAR-10 batch: keys {sorted(keys)} lack 'data'/'labels'")
    data = np.asarray(keys["data"])
    labels = np.asarray(keys["labels"])
    if data.ndim != 2 or data.shape[1] != CIFAR10_DIM or data.dtype != np.uint8:
        raise ValueError(f"{path}: 'data' has shape {data.shape} dtype {data.dtype}, expected (N, {CIFAR10_DIM}) uint8")
    if (
        labels.shape != (data.shape[0],)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels.size and (labels.min() < 0 or labels.max() >= CIFAR10_CLASSES))
    ):
        raise ValueError(f"{path}: 'labels' must be {data.shape[0]} integers in [0, {CIFAR10_CLASSES})")
    return data, labels.astype(np.int64)


def cifar10_files(data_dir: str | Path) -> tuple[list[Path], Path]:
    """The training batches present (data_batch_1…5, at least one) and test_batch under data_dir.

    data_dir may be the extracted ``cifar-10-batches-py`` folder or its parent.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"CIFAR-10 data_dir {str(root)!r} is not a directory")
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    train = [root / f"data_batch_{k}" for k in range(1, 6) if (root / f"data_batch_{k}").is_file()]
    test = root / "test_batch"
    if not train or not test.is_file():
        raise ValueError(
            f"CIFAR-10 data_dir {str(root)!r} must hold the python-pickle batches "
            f"data_batch_1 … data_batch_5 (at least one) and test_batch; found "
            f"{sorted(p.name for p in root.iterdir())[:10]}"
        )
    return train, test


def load_cifar10_data(data_dir: str | Path, n_train: int, n_test: int, rng: np.random.Generator) -> RealData:
    """Class-balanced subsets of the CIFAR-10 training batches and of test_batch, standardized."""
    train_files, test_file = cifar10_files(data_dir)
    parts = [read_cifar10_batch(p) for p in train_files]
    x_pool = np.concatenate([p[0] for p in parts])
    l_pool = np.concatenate([p[1] for p in parts])
    x_test_pool, l_test_pool = read_cifar10_batch(test_file)
    train = balanced_indices(l_pool, n_train, CIFAR10_CLASSES, rng)
    test = balanced_indices(l_test_pool, n_test, CIFAR10_CLASSES, rng)
    return prepare("cifar10", x_pool[train], l_pool[train], x_test_pool[test], l_test_pool[test], CIFAR10_CLASSES)
