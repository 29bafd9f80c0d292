"""Data sets: shapes, determinism, offline loading of every kind, one-line errors."""
import gzip
import struct
import pickle
import tarfile

import numpy as np
import pytest

from octconv_engine.data import DataSettings, find_fashion_mnist, load_data, read_idx
from octconv_engine.errors import UsageError


def _item_ok(dataset, channels, size, classes):
    image, label = dataset[0]
    assert image.shape == (channels, size, size) and image.dtype == np.float32
    assert label.shape == (1,) and label.dtype == np.int64 and 0 <= label[0] < classes


def test_digits_split_is_stratified_deterministic_and_upscaled():
    data = load_data(DataSettings("digits"))
    assert (len(data.train), len(data.eval)) == (1437, 360)
    assert (data.spec.num_classes, data.spec.in_channels, data.spec.image_size) == (10, 1, 32)
    _item_ok(data.eval, 1, 32, 10)
    counts = np.bincount(data.eval.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 of each digit
    again = load_data(DataSettings("digits"), train=False)
    assert again.train is None
    np.testing.assert_array_equal(again.eval[5][0], data.eval[5][0])  # no augmentation at eval


def test_training_augmentation_follows_numpy_seed():
    data = load_data(DataSettings("digits"))
    np.random.seed(3)
    first = data.train[0][0]
    np.random.seed(3)
    np.testing.assert_array_equal(first, data.train[0][0])


def test_synthetic_any_size_and_subsets():
    data = load_data(DataSettings("synthetic", image_size=20, num_classes=4, in_channels=2,
                                  train_samples=12, eval_samples=8))
    assert (len(data.train), len(data.eval)) == (12, 8)
    _item_ok(data.train, 2, 20, 4)
    np.testing.assert_array_equal(data.eval[3][0], load_data(
        DataSettings("synthetic", image_size=20, num_classes=4, in_channels=2,
                     eval_samples=8)).eval[3][0])


def test_synthetic_train_and_eval_sets_are_one_task():
    """Class means learnt on the training images classify the evaluation images (different
    samples of the same per-class patterns)."""
    data = load_data(DataSettings("synthetic", image_size=8, num_classes=4, in_channels=1,
                                  train_samples=64, eval_samples=32))
    train = [data.train[i] for i in range(len(data.train))]
    means = np.stack([np.mean([x for x, y in train if y[0] == c], axis=0) for c in range(4)])
    hits = [np.argmin(((means - x) ** 2).sum(axis=(1, 2, 3))) == y[0]
            for x, y in (data.eval[i] for i in range(len(data.eval)))]
    assert np.mean(hits) >= 0.9
    assert not np.array_equal(data.train[0][0], data.eval[0][0])


def _write_fake_cifar(path, per_batch=4):
    rng = np.random.RandomState(0)
    with tarfile.open(path, "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8),
                     b"labels": list(rng.randint(0, 10, per_batch))}
            file = path.parent / name
            file.write_bytes(pickle.dumps(batch))
            archive.add(file, arcname=f"cifar-10-batches-py/{name}")


def test_cifar10_reads_the_python_tarball(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_fake_cifar(archive)
    data = load_data(DataSettings("cifar10", path=str(archive)))
    assert (len(data.train), len(data.eval)) == (20, 4)
    _item_ok(data.train, 3, 32, 10)


@pytest.mark.parametrize("name, path, message", [
    ("cifar10", None, "needs --data-path to the python-version archive"),
    ("cifar10", "missing.tar.gz", "not found or not a tar archive"),
    ("imagefolder", None, "train/ and val/"),
    ("imagefolder", "missing_dir", "no val/ folder"),
    ("fashion-mnist", "missing_dir", "missing train-images-idx3-ubyte.gz"),
])
def test_missing_paths_name_the_expected_layout(tmp_path, name, path, message):
    with pytest.raises(UsageError, match=message):
        load_data(DataSettings(name, path=str(tmp_path / path) if path else None))


def test_cifar_without_batches_is_malformed(tmp_path):
    archive = tmp_path / "other.tar.gz"
    (tmp_path / "readme.txt").write_text("hello")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(UsageError, match="no data_batch/test_batch members"):
        load_data(DataSettings("cifar10", path=str(archive)))


def test_imagefolder(tmp_path):
    from PIL import Image

    rng = np.random.RandomState(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.randint(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_data(DataSettings("imagefolder", path=str(tmp_path), image_size=32))
    assert data.spec.class_names == ("cat", "dog") and len(data.train) == 4
    _item_ok(data.train, 3, 32, 2)
    _item_ok(data.eval, 3, 32, 2)


FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _idx_bytes(array: np.ndarray) -> bytes:
    """The idx encoding of a uint8 array, written from the format's definition."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_fashion(folder, counts=(7, 3), seed=0):
    """Four gzip idx files with ``counts`` train / test items (not multiples of 100)."""
    rng = np.random.RandomState(seed)
    arrays = {}
    for (split, (image_name, label_name)), count in zip(FASHION_FILES.items(), counts):
        images = rng.randint(0, 256, (count, 28, 28)).astype(np.uint8)
        labels = rng.randint(0, 10, count).astype(np.uint8)
        for name, array in ((image_name, images), (label_name, labels)):
            with gzip.open(folder / name, "wb") as file:
                file.write(_idx_bytes(array))
        arrays[split] = (images, labels)
    return arrays


def test_fashion_mnist_any_image_count(tmp_path):
    arrays = _write_fashion(tmp_path, counts=(7, 3))
    data = load_data(DataSettings("fashion-mnist", path=str(tmp_path)))
    assert (len(data.train), len(data.eval)) == (7, 3)
    images, labels = arrays["test"]
    for i in range(3):
        image, label = data.eval[i]
        np.testing.assert_allclose(image[0], (images[i] / 255.0 - 0.2860) / 0.3530, rtol=1e-5,
                                   atol=1e-6)
        assert label.tolist() == [labels[i]]


def _rewrite(path, transform):
    with gzip.open(path, "rb") as file:
        payload = file.read()
    with gzip.open(path, "wb") as file:
        file.write(transform(payload))


@pytest.mark.parametrize("damage, message", [
    ("truncated", "holds 4488 data bytes but its header announces (7, 28, 28) (5488 bytes)"),
    ("not idx", "not an idx file (bad magic number); expected idx images"),
    ("swapped", "an idx file of 1 dimension(s), expected 3: images (N x rows x columns); are "
                "the image and label files swapped?"),
    ("label out of range", "holds labels outside 0..9"),
    ("count mismatch", "has 7 images but"),
    ("cut gzip stream", "cannot be read"),
])
def test_fashion_mnist_damaged_files_name_the_file_and_the_problem(tmp_path, damage, message):
    _write_fashion(tmp_path)
    images, labels = (tmp_path / name for name in FASHION_FILES["train"])
    if damage == "truncated":
        _rewrite(images, lambda b: b[:-1000])
    elif damage == "not idx":
        _rewrite(images, lambda b: b"not an idx file")
    elif damage == "swapped":
        images.write_bytes(labels.read_bytes())
    elif damage == "label out of range":
        _rewrite(labels, lambda b: b[:-1] + bytes([12]))
    elif damage == "count mismatch":
        _rewrite(labels, lambda b: _idx_bytes(np.zeros(6, np.uint8)))
    elif damage == "cut gzip stream":
        images.write_bytes(images.read_bytes()[:200])
    with pytest.raises(UsageError) as error:
        load_data(DataSettings("fashion-mnist", path=str(tmp_path)))
    assert message in str(error.value) and "train-" in str(error.value)


def test_read_idx_reads_uncompressed_files_too(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "plain.idx").write_bytes(_idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.idx", ndim=3), array)


def _fashion_available() -> bool:
    try:
        find_fashion_mnist()
        return True
    except UsageError:
        return False


@pytest.mark.skipif(not _fashion_available(), reason="Fashion-MNIST files absent: "
                    "apt-get install dataset-fashion-mnist (or pass --data-path)")
def test_fashion_mnist_small_subset_from_the_debian_package():
    data = load_data(DataSettings("fashion-mnist", train_samples=64, eval_samples=32))
    assert (len(data.train), len(data.eval)) == (64, 32)
    assert data.spec.class_names[0] == "T-shirt/top"
    _item_ok(data.train, 1, 28, 10)
    labels = {int(data.eval[i][1][0]) for i in range(32)}
    assert len(labels) > 3  # a real mix of classes, not one file's first class


def test_fixed_size_data_sets_refuse_another_size(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_fake_cifar(archive, per_batch=1)
    with pytest.raises(UsageError, match="--image-size 64 is not supported"):
        load_data(DataSettings("cifar10", path=str(archive), image_size=64))
