"""Pre-drawn randomness for the kernels: one numpy Generator per stream, spawned from the seeds.

Two seeds, so that the spread over data and initialisation ("seed spread") and the spread over
noise paths at fixed data and initialisation ("path spread") can each be measured:
`seed` fixes the data and the initialisation, streams data and init (children (0,) and (1,) of
SeedSequence(seed)); `noise_seed` fixes one noise path, streams batches, labels and oscillation
(the children of SeedSequence(seed, spawn_key=(2, noise_seed))). Streams are independent of each
other, so two runs that differ only in δ (or in the algorithm) see the same data, initialisation,
minibatches and ξ: common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

START_STREAMS = ("data", "init")
NOISE_STREAMS = ("batches", "labels", "oscillation")


def start_generators(seed: int) -> dict[str, np.random.Generator]:
    """One Generator per stream of START_STREAMS (data, initialisation), from `seed`."""
    children = np.random.SeedSequence(seed).spawn(len(START_STREAMS))
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(START_STREAMS, children, strict=True)}


def noise_generators(seed: int, noise_seed: int) -> dict[str, np.random.Generator]:
    """One Generator per stream of NOISE_STREAMS (one noise path), from (`seed`, `noise_seed`)."""
    children = np.random.SeedSequence(seed, spawn_key=(2, noise_seed)).spawn(len(NOISE_STREAMS))
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(NOISE_STREAMS, children, strict=True)}


@dataclass
class BatchSampler:
    """Minibatch indices S_t (B of n): uniform with replacement, or without replacement per epoch.

    Without replacement the index stream is a concatenation of random permutations of range(n)
    cut into consecutive batches of B (a batch may straddle two epochs when B does not divide n).
    """

    n: int
    batch_size: int
    replacement: bool
    rng: np.random.Generator

    def __post_init__(self) -> None:
        self._buffer = np.empty(0, dtype=np.int64)

    def draw(self, count: int) -> np.ndarray:
        """Indices of the next `count` batches, shape (count, B), int64."""
        B = self.batch_size
        if self.replacement:
            return self.rng.integers(0, self.n, size=(count, B), dtype=np.int64)
        need = count * B
        parts = [self._buffer]
        have = len(self._buffer)
        while have < need:
            perm = self.rng.permutation(self.n).astype(np.int64)
            parts.append(perm)
            have += self.n
        stream = np.concatenate(parts)
        self._buffer = stream[need:]
        return stream[:need].reshape(count, B)


def label_noise(rng: np.random.Generator, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    """ξ: standard Gaussian or Rademacher (±1) variates."""
    if kind == "gaussian":
        return rng.standard_normal(shape)
    return 2.0 * rng.integers(0, 2, size=shape).astype(np.float64) - 1.0


def oscillation_drive(rng: np.random.Generator, kind: str, steps: np.ndarray, m: int, period: int) -> np.ndarray:
    """ζ_t ∈ R^m for the steps given, shape (len(steps), m).

    gaussian: i.i.d. N(0, 1) per neuron and step. sine: ζ_{t,k} = √2 sin(2πt/P_k) with per-neuron
    periods P_k = P(1 + k/m), so that the time average of ζζᵀ is I as for the Gaussian drive (a
    common period would make it rank one and shrink only one direction of neuron space).
    """
    if kind == "gaussian":
        return rng.standard_normal((len(steps), m))
    periods = period * (1.0 + np.arange(m) / m)
    return np.sqrt(2.0) * np.sin(2.0 * np.pi * steps[:, None] / periods[None, :])
