"""The training DataLoader: a shuffle fixed by (seed, epoch), sharded over ranks, resumable.

Every training sample is a function of ``(seed, epoch, index)`` alone: the sampler yields
``(index, epoch)`` keys and :class:`SeededSamples` seeds Python's and numpy's global RNGs from
``(seed, epoch, index)`` around each item's augmentation. So what a batch holds does not depend
on how far the DataLoader's prefetching thread (or its worker processes) ran ahead, and a run
stopped at any batch and resumed sees exactly the samples of an uninterrupted run.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np
from paddle.io import DataLoader, Dataset, Sampler, get_worker_info

__all__ = ["EpochBatchSampler", "SeededSamples", "ReadGuard", "sample_seed", "train_loader"]

SampleKey = Tuple[int, int]  # (index into the data set, epoch)


class EpochBatchSampler(Sampler):
    """Batches of ``(index, epoch)`` keys for one rank; epoch ``e``'s order depends only on
    ``(seed, e)``.

    Unlike ``paddle.io.DistributedBatchSampler`` (whose shuffle ignores the seed and restarts
    at epoch 0 in every process), the order of a resumed run's next epoch is the order the
    uninterrupted run would have used, and :meth:`set_epoch` can skip the batches already
    trained in an interrupted epoch. Each epoch's index list is padded (by repeating indices)
    to a multiple of ``world_size`` and rank ``r`` takes every ``world_size``-th index from ``r``.

    Args:
        size: number of samples in the data set.
        batch_size: samples per batch on this rank.
        shuffle: shuffle every epoch (else: data set order).
        drop_last: drop the last incomplete batch.
        seed: shuffle seed (the run's ``--seed``).
        rank, world_size: this process and the number of processes.
    """

    def __init__(self, size: int, batch_size: int, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"cannot sample from an empty data set (size {size})")
        self.size, self.batch_size = size, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Make the next iteration epoch ``epoch`` (0-based), leaving out its first ``skip`` batches."""
        self.epoch, self.skip = epoch, skip

    def _local_indices(self) -> np.ndarray:
        if self.shuffle:
            order = np.random.RandomState((self.seed * 10_007 + self.epoch) % 2**32).permutation(self.size)
        else:
            order = np.arange(self.size)
        padded = -(-self.size // self.world_size) * self.world_size
        order = np.concatenate([order, order[:padded - self.size]])
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[List[SampleKey]]:
        indices, epoch = self._local_indices(), self.epoch
        skip, self.skip = self.skip, 0
        self.epoch += 1
        for number, start in enumerate(range(0, len(indices), self.batch_size)):
            batch = indices[start:start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                return
            if number >= skip:
                yield [(int(index), epoch) for index in batch]

    def __len__(self) -> int:
        local = -(-self.size // self.world_size)
        return local // self.batch_size if self.drop_last else -(-local // self.batch_size)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The RNG seed of sample ``index`` in ``epoch`` of a run seeded ``seed`` (a 32-bit int)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


@contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed Python's and numpy's global RNGs for the block, then put their states back."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


class SeededSamples(Dataset):
    """``dataset`` indexed by ``(index, epoch)`` keys, each item's randomness fixed by
    ``(seed, epoch, index)``.

    The augmentations of the data sets here (and of ``paddle.vision.transforms``) draw from
    Python's and numpy's global RNGs; those are seeded with :func:`sample_seed` for the duration
    of one item and restored afterwards, so nothing else sees the change.

    Args:
        dataset: a map-style data set of ``(image, label)`` items.
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        super().__init__()
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: SampleKey) -> Any:
        index, epoch = key
        with _seeded_global_rngs(sample_seed(self.seed, epoch, index)):
            return self.dataset[index]


class ReadGuard(Dataset):
    """``dataset`` whose read errors reach the main thread instead of hanging the DataLoader.

    Paddle's single-process DataLoader reads batches in a background thread, which dies
    silently on an exception and leaves the training loop waiting forever. Here an exception
    raised while reading an item (an unreadable image, say) is kept in :attr:`error` and the
    thread is ended as at the end of the data; :meth:`check`, called from the main thread at
    every batch and epoch boundary (see :class:`~octconv_engine.callbacks.ReadErrorCheck`),
    raises it there. In a DataLoader worker process the exception is raised as it is (Paddle
    passes worker exceptions on to the main process).
    """

    def __init__(self, dataset: Dataset) -> None:
        super().__init__()
        self.dataset = dataset
        self.error: Optional[BaseException] = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.dataset[key]
        except Exception as error:
            if get_worker_info() is not None:
                raise
            self.error = error
            raise StopIteration from error  # the loader thread's clean way out

    def check(self) -> None:
        """Raise the read error, if there was one."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def train_loader(dataset: Dataset, sampler: EpochBatchSampler, num_workers: int) -> DataLoader:
    """A DataLoader over ``dataset`` drawing its batches from ``sampler``, every sample's
    augmentation seeded by (the sampler's seed, epoch, index); its ``dataset`` is a
    :class:`ReadGuard`."""
    return DataLoader(ReadGuard(SeededSamples(dataset, sampler.seed)), batch_sampler=sampler,
                      num_workers=num_workers, return_list=True)
