"""Data sets for train.py and eval.py: digits, CIFAR-10, Fashion-MNIST, image folders, synthetic.

Every loader returns a :class:`LoadedData` (train and eval ``paddle.io.Dataset`` plus a
:class:`DataSpec`); items are ``(image, label)`` with a float32 (C, H, W) image and an int64 [1]
label. Random augmentation draws from numpy's and Python's global RNGs only; the training loader
(:mod:`octconv_engine.loading`) seeds them per sample from (seed, epoch, index), which makes a run
repeatable and resumable at any batch. Nothing is ever downloaded: a missing or malformed path
raises :class:`~octconv_engine.errors.UsageError` naming the expected layout.
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from paddle.io import Dataset, Subset

from .errors import UsageError

__all__ = [
    "DATASETS",
    "DataSettings",
    "DataSpec",
    "LoadedData",
    "ArrayDataset",
    "SyntheticDataset",
    "load_data",
    "find_fashion_mnist",
    "read_idx",
]

DATASETS: Tuple[str, ...] = ("digits", "cifar10", "fashion-mnist", "imagefolder", "synthetic")

_CIFAR_LAYOUT = ("the python-version archive cifar-10-python.tar.gz (members "
                 "cifar-10-batches-py/data_batch_1..5 and test_batch)")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_FASHION_LAYOUT = "a folder holding " + ", ".join(f for pair in _FASHION_FILES.values() for f in pair)
_FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_IMAGEFOLDER_LAYOUT = "a folder with train/ and val/, each holding one sub-folder of images per class"
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")
_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                  "truck")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataSettings:
    """What selects and shapes a data set; a checkpoint stores it so eval.py can rebuild the data.

    Attributes:
        name: one of :data:`DATASETS`.
        path: the file or folder for cifar10, fashion-mnist (optional) and imagefolder.
        image_size: side of the (square) network input; digits and imagefolder resize to it,
            synthetic generates it, CIFAR-10 (32) and Fashion-MNIST (28) keep their own.
        num_classes, in_channels: synthetic only (the other data sets know their own).
        train_samples, eval_samples: use only this many samples (0: all; synthetic: its size,
            512 and 128 when 0). The subset is fixed (seed 0), whatever the run's seed.
    """

    name: str = "digits"
    path: Optional[str] = None
    image_size: Optional[int] = None
    num_classes: Optional[int] = None
    in_channels: Optional[int] = None
    train_samples: int = 0
    eval_samples: int = 0


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about a loaded data set."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    class_names: Tuple[str, ...]


class LoadedData(NamedTuple):
    """Train split (None when only evaluation data was asked for), eval split and their spec."""

    train: Optional[Dataset]
    eval: Dataset
    spec: DataSpec


class ArrayDataset(Dataset):
    """Images held in memory as one (N, C, H, W) array, with light numpy augmentation.

    Args:
        images: (N, C, H, W) array, uint8 or float.
        labels: (N,) integer class ids.
        mean, std: per-channel normalisation, applied after ``images / scale``.
        scale: divisor bringing pixels to [0, 1] (255 for uint8 data).
        pad: random translation: zero-pad by ``pad`` pixels then crop back at a random offset.
        flip: random horizontal flip with probability 0.5.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: Sequence[float],
                 std: Sequence[float], scale: float = 255.0, pad: int = 0, flip: bool = False) -> None:
        super().__init__()
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"expected (N, C, H, W) images and N labels, got {images.shape} "
                             f"and {len(labels)}")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        self.scale, self.pad, self.flip = float(scale), int(pad), bool(flip)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        image = self.images[index].astype(np.float32) / self.scale
        if self.pad:
            _, height, width = image.shape
            padded = np.pad(image, ((0, 0), (self.pad, self.pad), (self.pad, self.pad)))
            top, left = np.random.randint(0, 2 * self.pad + 1, size=2)
            image = padded[:, top:top + height, left:left + width]
        if self.flip and np.random.rand() < 0.5:
            image = image[:, :, ::-1]
        image = (image - self.mean) / self.std
        return np.ascontiguousarray(image, dtype=np.float32), self.labels[index:index + 1]


class SyntheticDataset(Dataset):
    """Random but learnable images: a smooth per-class pattern plus Gaussian noise.

    Item ``i`` is generated from its own seed, so the data set costs no memory, any size works,
    and two instances with the same arguments are identical. The class patterns come from
    ``pattern_seed`` and the noise from ``seed``: a training and an evaluation set of one task
    share the patterns and differ in their samples.
    """

    def __init__(self, num_samples: int, num_classes: int, in_channels: int, image_size: int,
                 seed: int = 0, pattern_seed: int = 0) -> None:
        super().__init__()
        self.num_samples, self.num_classes, self.seed = num_samples, num_classes, seed
        coarse = np.random.RandomState(pattern_seed).standard_normal(
            (num_classes, in_channels, 4, 4))
        repeat = -(-image_size // 4)
        patterns = coarse.repeat(repeat, axis=2).repeat(repeat, axis=3)
        self.patterns = patterns[:, :, :image_size, :image_size].astype(np.float32)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        label = index % self.num_classes
        rng = np.random.RandomState((self.seed * 1_000_003 + index) % 2**32)
        noise = rng.standard_normal(self.patterns.shape[1:]).astype(np.float32)
        return self.patterns[label] + noise, np.array([label], dtype=np.int64)


class _CHWFloat:
    """PIL image -> normalised float32 (C, H, W) array (picklable, for DataLoader workers)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)

    def __call__(self, image) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (array - self.mean) / self.std


class _FolderItems(Dataset):
    """A ``DatasetFolder``'s items with int64 [1] labels, and a file that cannot be read as an
    image reported as a UsageError naming it."""

    def __init__(self, dataset) -> None:
        super().__init__()
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        try:
            image, label = self.dataset[index]
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            path = self.dataset.samples[index][0]
            raise UsageError(f"{path}: cannot be read as an image ({type(error).__name__}); "
                             "replace or delete the file") from None
        return image, np.array([int(label)], dtype=np.int64)


def _fixed_size(name: str, native: int, requested: Optional[int]) -> int:
    if requested not in (None, native):
        raise UsageError(f"{name} images are {native}x{native}; --image-size {requested} is not "
                         f"supported for it (leave it out)")
    return native


def _digits(settings: DataSettings, train: bool) -> LoadedData:
    """scikit-learn's 1,797 8x8 digits, upscaled (bilinear); a stratified 80/20 split, seed 0."""
    import paddle
    import paddle.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    size = settings.image_size or 32
    digits = load_digits()
    images = paddle.to_tensor(digits.images[:, None].astype(np.float32) / 16.0)
    images = F.interpolate(images, size=[size, size], mode="bilinear", align_corners=False)
    images = np.clip(images.numpy(), 0.0, 1.0)
    train_idx, test_idx = train_test_split(np.arange(len(images)), test_size=0.2,
                                           stratify=digits.target, random_state=0)
    mean, std = float(images[train_idx].mean()), float(images[train_idx].std())
    make = lambda idx, augment: ArrayDataset(images[idx], digits.target[idx], [mean], [std],
                                             scale=1.0, pad=size // 16 if augment else 0)
    spec = DataSpec("digits", 10, 1, size, tuple(str(d) for d in range(10)))
    return LoadedData(make(train_idx, True) if train else None, make(test_idx, False), spec)


def _cifar10(settings: DataSettings, train: bool) -> LoadedData:
    """CIFAR-10 from the python-version tarball; random crop (pad 4) + flip for training."""
    from paddle.vision.datasets import Cifar10

    path = Path(settings.path or "")
    if not settings.path:
        raise UsageError(f"--data cifar10 needs --data-path to {_CIFAR_LAYOUT}")
    if not path.is_file() or not tarfile.is_tarfile(path):
        raise UsageError(f"--data-path {path}: not found or not a tar archive; cifar10 expects "
                         f"{_CIFAR_LAYOUT}")
    with tarfile.open(path) as archive:
        names = archive.getnames()
    if not any("data_batch" in n for n in names) or not any("test_batch" in n for n in names):
        raise UsageError(f"--data-path {path}: no data_batch/test_batch members; cifar10 expects "
                         f"{_CIFAR_LAYOUT}")
    size = _fixed_size("cifar10", 32, settings.image_size)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

    def split(mode: str, augment: bool) -> ArrayDataset:
        samples = Cifar10(data_file=str(path), mode=mode, download=False).data
        images = np.stack([image for image, _ in samples]).reshape(-1, 3, 32, 32)
        labels = np.array([label for _, label in samples])
        return ArrayDataset(images, labels, mean, std, pad=4 if augment else 0, flip=augment)

    spec = DataSpec("cifar10", 10, 3, size, _CIFAR_CLASSES)
    return LoadedData(split("train", True) if train else None, split("test", False), spec)


def _dpkg_files(package: str) -> Sequence[str]:
    if shutil.which("dpkg") is None:
        return ()
    result = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    return result.stdout.splitlines() if result.returncode == 0 else ()


def find_fashion_mnist(path: Optional[str] = None) -> Path:
    """The folder holding Fashion-MNIST's four idx ``.gz`` files.

    ``path`` if given, else where Debian's ``dataset-fashion-mnist`` package installed them.

    Raises:
        UsageError: no such folder, or a file is missing (the message names the layout).
    """
    if path:
        folder = Path(path)
    else:
        installed = [Path(f).parent for f in _dpkg_files("dataset-fashion-mnist")
                     if f.endswith(_FASHION_FILES["train"][0])]
        folder = installed[0] if installed else _FASHION_DEBIAN_DIR
        if not folder.is_dir():
            raise UsageError("fashion-mnist: no --data-path given and the Debian package "
                             "dataset-fashion-mnist is not installed (apt-get install "
                             f"dataset-fashion-mnist); --data-path takes {_FASHION_LAYOUT}")
    missing = [f for pair in _FASHION_FILES.values() for f in pair if not (folder / f).is_file()]
    if missing:
        raise UsageError(f"--data-path {folder}: missing {', '.join(missing)}; fashion-mnist "
                         f"expects {_FASHION_LAYOUT}")
    return folder


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an idx file (the MNIST format), gzip-compressed or not, of ``ndim`` dimensions.

    Any number of items works (the whole file is read at once).

    Raises:
        UsageError: not an idx file, another number of dimensions than ``ndim`` (e.g. a labels
            file where images belong), or fewer bytes than its header announces (truncated).
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as file:
            payload = file.read()
    except (OSError, EOFError) as error:  # includes a gzip stream cut short
        raise UsageError(f"{path}: cannot be read ({error}); is the download complete?") from None
    kind = "images (N x rows x columns)" if ndim == 3 else "labels (N)"
    if len(payload) < 4 or payload[:2] != b"\x00\x00" or payload[2] not in _IDX_TYPES:
        raise UsageError(f"{path}: not an idx file (bad magic number); expected idx {kind}")
    if payload[3] != ndim:
        raise UsageError(f"{path}: an idx file of {payload[3]} dimension(s), expected {ndim}: "
                         f"{kind}; are the image and label files swapped?")
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise UsageError(f"{path}: truncated idx header; the file is incomplete")
    shape = tuple(int(d) for d in np.frombuffer(payload, ">u4", ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[payload[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(payload) - header != expected:
        raise UsageError(f"{path}: holds {len(payload) - header} data bytes but its header "
                         f"announces {shape} ({expected} bytes); the file is truncated or corrupt")
    return np.frombuffer(payload, dtype, offset=header).reshape(shape)


def _fashion_mnist(settings: DataSettings, train: bool) -> LoadedData:
    """Fashion-MNIST (60,000 + 10,000 28x28 grey images); random crop (pad 2) + flip for training."""
    folder = find_fashion_mnist(settings.path)
    size = _fixed_size("fashion-mnist", 28, settings.image_size)

    def split(mode: str, augment: bool) -> ArrayDataset:
        image_file, label_file = (folder / f for f in _FASHION_FILES[mode])
        images, labels = read_idx(image_file, ndim=3), read_idx(label_file, ndim=1)
        if images.shape[1:] != (28, 28):
            raise UsageError(f"fashion-mnist: {image_file} holds {images.shape[1]}x"
                             f"{images.shape[2]} images, expected 28x28")
        if len(images) != len(labels):
            raise UsageError(f"fashion-mnist: {image_file} has {len(images)} images but "
                             f"{label_file} has {len(labels)} labels")
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(_FASHION_CLASSES):
            raise UsageError(f"fashion-mnist: {label_file} holds labels outside 0..9 "
                             f"({labels.min()}..{labels.max()})")
        return ArrayDataset(images[:, None].astype(np.uint8), labels, [0.2860], [0.3530],
                            pad=2 if augment else 0, flip=augment)

    spec = DataSpec("fashion-mnist", 10, 1, size, _FASHION_CLASSES)
    return LoadedData(split("train", True) if train else None, split("test", False), spec)


def _imagefolder(settings: DataSettings, train: bool) -> LoadedData:
    """ImageNet-style train/ and val/ class folders; RandomResizedCrop + flip / resize + center crop."""
    import paddle.vision.transforms as T
    from paddle.vision.datasets import DatasetFolder

    if not settings.path:
        raise UsageError(f"--data imagefolder needs --data-path to {_IMAGEFOLDER_LAYOUT}")
    root = Path(settings.path)
    size = settings.image_size or 224
    to_array = _CHWFloat(_IMAGENET_MEAN, _IMAGENET_STD)
    transforms = {
        "train": T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), to_array]),
        "val": T.Compose([T.Resize(int(round(size / 0.875))), T.CenterCrop(size), to_array]),
    }

    def split(name: str) -> DatasetFolder:
        folder = root / name
        if not folder.is_dir():
            raise UsageError(f"--data-path {root}: no {name}/ folder; imagefolder expects "
                             f"{_IMAGEFOLDER_LAYOUT}")
        try:
            return DatasetFolder(str(folder), transform=transforms[name])
        except (RuntimeError, OSError) as error:
            raise UsageError(f"--data-path {root}: {name}/ holds no usable class folders "
                             f"({str(error).strip().splitlines()[0]}); imagefolder expects "
                             f"{_IMAGEFOLDER_LAYOUT}") from None

    val = split("val")
    train_set = split("train") if train else None
    if train_set is not None and train_set.classes != val.classes:
        raise UsageError(f"--data-path {root}: train/ and val/ have different class folders "
                         f"({len(train_set.classes)} vs {len(val.classes)})")
    spec = DataSpec("imagefolder", len(val.classes), 3, size, tuple(val.classes))
    return LoadedData(_FolderItems(train_set) if train_set is not None else None,
                      _FolderItems(val), spec)


def _synthetic(settings: DataSettings, train: bool) -> LoadedData:
    """Generated images of any size (``image_size``, ``in_channels``, ``num_classes``)."""
    size = settings.image_size or 32
    classes, channels = settings.num_classes or 10, settings.in_channels or 3
    if classes < 2:
        raise UsageError(f"--num-classes must be >= 2 for synthetic data, got {classes}")
    train_set = (SyntheticDataset(settings.train_samples or 512, classes, channels, size, seed=1)
                 if train else None)
    eval_set = SyntheticDataset(settings.eval_samples or 128, classes, channels, size, seed=2)
    spec = DataSpec("synthetic", classes, channels, size, tuple(str(c) for c in range(classes)))
    return LoadedData(train_set, eval_set, spec)


_LOADERS: Dict[str, Callable[[DataSettings, bool], LoadedData]] = {
    "digits": _digits,
    "cifar10": _cifar10,
    "fashion-mnist": _fashion_mnist,
    "imagefolder": _imagefolder,
    "synthetic": _synthetic,
}


def _subset(dataset: Optional[Dataset], samples: int) -> Optional[Dataset]:
    """A fixed (seed 0) subset of ``samples`` items; everything when 0 or more.

    Stratified (every class in its share) when the labels are known up front (the in-memory
    data sets) and both the subset and the rest hold at least one sample per class; else the
    first ``samples`` of a fixed permutation.
    """
    if dataset is None or samples <= 0 or samples >= len(dataset):
        return dataset
    labels = getattr(dataset, "labels", None)
    classes = len(np.unique(labels)) if labels is not None else 0
    if labels is not None and min(samples, len(dataset) - samples) >= classes:
        from sklearn.model_selection import train_test_split

        order, _ = train_test_split(np.arange(len(dataset)), train_size=samples, stratify=labels,
                                    random_state=0)
    else:
        order = np.random.RandomState(0).permutation(len(dataset))[:samples]
    return Subset(dataset, sorted(int(i) for i in order))


def load_data(settings: DataSettings, train: bool = True) -> LoadedData:
    """Load the data set ``settings`` describes.

    Args:
        settings: which data set, where, and at what size.
        train: also load the training split (eval.py passes False).

    Raises:
        UsageError: unknown data set, or a missing / malformed path.
    """
    if settings.name not in _LOADERS:
        raise UsageError(f"unknown data set {settings.name!r}; choose from {', '.join(DATASETS)}")
    if settings.image_size is not None and settings.image_size < 1:
        raise UsageError(f"--image-size must be positive, got {settings.image_size}")
    data = _LOADERS[settings.name](settings, train)
    if settings.name == "synthetic":
        return data
    return LoadedData(_subset(data.train, settings.train_samples),
                      _subset(data.eval, settings.eval_samples), data.spec)
