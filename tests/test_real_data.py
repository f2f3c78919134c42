"""Loaders of experiments/real/data.py: digits, and CIFAR-10 batches written here in the real format."""

import os
import pickle

import numpy as np
import pytest

from lnsgd.experiments.real.data import CIFAR10_DIM, load_cifar10_data, load_digits_data, read_cifar10_batch


def write_batch(path, n, rng, protocol=2, **override):
    """A CIFAR-10 python batch: a pickled dict with bytes keys, b'data' (n, 3072) uint8, b'labels'."""
    batch = {
        b"batch_label": b"synthetic",
        b"labels": [int(c) for c in np.arange(n) % 10],
        b"data": rng.integers(0, 256, size=(n, CIFAR10_DIM), dtype=np.uint8),
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }
    batch.update(override)
    with open(path, "wb") as fh:
        pickle.dump(batch, fh, protocol=protocol)


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for k in (1, 2):
        write_batch(root / f"data_batch_{k}", 30, rng)
    write_batch(root / "test_batch", 40, rng, protocol=pickle.HIGHEST_PROTOCOL)
    return root


def test_digits_balanced_disjoint_standardized():
    data = load_digits_data(103, 60, np.random.default_rng(0))
    assert data.x_train.shape == (103, 64) and data.y_train.shape == (103, 10)
    counts = np.bincount(data.labels_train, minlength=10)
    assert counts.max() - counts.min() == 1 and counts[:3].tolist() == [11, 11, 11]
    np.testing.assert_array_equal(np.bincount(data.labels_test), np.full(10, 6))
    np.testing.assert_array_equal(data.y_train.argmax(1), data.labels_train)
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-12)
    std = data.x_train.std(0)
    assert np.all((np.abs(std - 1) < 1e-12) | (std == 0))
    # disjoint: no test image equals a training image row (digits has very few duplicates)
    same = (data.x_train[:, None, :] == data.x_test[None, :, :]).all(-1)
    assert same.sum() <= 1


def test_cifar10_loader_reads_real_format(cifar_dir):
    data = load_cifar10_data(cifar_dir.parent, 20, 10, np.random.default_rng(0))  # parent also accepted
    assert data.name == "cifar10" and data.x_train.shape == (20, CIFAR10_DIM)
    np.testing.assert_array_equal(np.bincount(data.labels_train), np.full(10, 2))
    np.testing.assert_array_equal(np.bincount(data.labels_test), np.ones(10))
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-12)
    raw, labels = read_cifar10_batch(cifar_dir / "data_batch_2")
    assert raw.dtype == np.uint8 and labels.tolist()[:3] == [0, 1, 2]
    again = load_cifar10_data(cifar_dir, 20, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(again.x_test, data.x_test)


def test_cifar10_bad_paths(tmp_path, cifar_dir):
    with pytest.raises(ValueError, match="is not a directory"):
        load_cifar10_data(tmp_path / "nowhere", 10, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="must hold the python-pickle batches"):
        load_cifar10_data(tmp_path / "cifar-10-batches-py" / ".." / "..", 10, 10, np.random.default_rng(0))
    os.remove(cifar_dir / "test_batch")
    with pytest.raises(ValueError, match="test_batch"):
        load_cifar10_data(cifar_dir, 10, 10, np.random.default_rng(0))


def test_cifar10_too_few_samples(cifar_dir):
    with pytest.raises(ValueError, match="class 0 has 6 available samples, 7 requested"):
        load_cifar10_data(cifar_dir, 70, 10, np.random.default_rng(0))


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not a pickle at all", "is not a CIFAR-10 python-pickle batch"),
        (pickle.dumps([1, 2, 3]), "expected a dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "lack 'data'/'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "expected \\(N, 3072\\) uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "integers in \\[0, 10\\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})[:-20], "python-pickle batch"),
        (pickle.dumps(os.system), "is not allowed"),
    ],
)
def test_cifar10_corrupt_files(cifar_dir, content, match):
    (cifar_dir / "data_batch_1").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_cifar10_data(cifar_dir, 10, 10, np.random.default_rng(0))
