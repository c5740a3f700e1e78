"""Data sets through the real loaders, on small files that the tests write in each set's real format:
MNIST idx-ubyte (plain and .gz) in torchvision's raw layout, CIFAR python pickle batches, N-MNIST .bin event
files in tonic's layout, DVS-CIFAR10 AER-DAT 2.0 .aedat files."""

from __future__ import annotations

import gzip
import pickle
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from biosnn.data import DATASETS, dataset_info, load_dataset, make_loaders
from biosnn.errors import DatasetNotFoundError, ParameterError, UnknownNameError


# ------------------------------------------------------------------------------------------- writers
def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx-ubyte file (LeCun's format): magic 0x0000080<ndim>, big-endian dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x800 + array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(root: Path, folder: str, rng: np.random.Generator, n_train=12, n_test=5, gz=False) -> dict:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        data[prefix] = (images, labels)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            path = raw / f"{prefix}-{kind}-ubyte"
            write_idx(path, arr)
            if gz:
                with open(path, "rb") as src, gzip.open(str(path) + ".gz", "wb") as dst:
                    dst.write(src.read())
                path.unlink()
    return data


def write_cifar10(root: Path, rng: np.random.Generator, per_batch=4) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        entry = {
            "batch_label": name,
            "labels": labels,
            "data": images.reshape(per_batch, 3072),
            "filenames": [f"img_{name}_{i}.png" for i in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        out[name] = (images, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    return out


def write_cifar100(root: Path, rng: np.random.Generator, n=6) -> dict:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for name in ("train", "test"):
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        entry = {
            "filenames": [f"{i}.png" for i in range(n)],
            "batch_label": name,
            "fine_labels": fine,
            "coarse_labels": [f // 5 for f in fine],
            "data": images.reshape(n, 3072),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        out[name] = (images, fine)
    with open(folder / "meta", "wb") as f:
        pickle.dump(
            {
                "fine_label_names": [f"class{i}" for i in range(100)],
                "coarse_label_names": [f"super{i}" for i in range(20)],
            },
            f,
            protocol=2,
        )
    return out


def nmnist_bytes(x, y, t, p) -> bytes:
    """N-MNIST .bin: 5 bytes per event: x, y, polarity bit 7 + timestamp bits 22-16, bits 15-8, bits 7-0."""
    x, y, t, p = (np.asarray(a, dtype=np.uint32) for a in (x, y, t, p))
    raw = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()


def random_events(rng, n, width, t_split, t_end):
    """n events, polarity 0 before t_split and polarity 1 after it (so two time bins separate polarities)."""
    t = np.sort(np.concatenate([rng.integers(0, t_split - 5, n // 2), rng.integers(t_split + 5, t_end, n - n // 2)]))
    p = (t > t_split).astype(np.uint32)
    t[0], t[-1] = 0, t_end  # fix the recording's span so the bin edge sits at t_split
    x = rng.integers(0, width, n)
    y = rng.integers(0, width, n)
    return x, y, t, p


def write_nmnist(root: Path, rng: np.random.Generator, per_class=(2, 1)) -> dict:
    out = {}
    for split, count in zip(("Train", "Test"), per_class):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for k in range(count):
                ev = random_events(rng, 60, 34, 150_000, 300_000)
                (folder / f"{digit:02d}{k:03d}.bin").write_bytes(nmnist_bytes(*ev))
                out[(split, digit, k)] = ev
    return out


def expected_frames(x, y, t, p, steps, size):
    """tonic's ToFrame(n_time_bins): bin k holds t0 + k w <= t < t0 + (k + 1) w, w = (t_last - t0) // steps
    (so an event exactly at the end of the last bin is not counted)."""
    w = (t[-1] - t[0]) // steps
    out = np.zeros((steps, 2, size, size))
    for k in range(steps):
        sel = (t >= t[0] + k * w) & (t < t[0] + (k + 1) * w)
        np.add.at(out[k], (p[sel], y[sel], x[sel]), 1)
    return out


DVS_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_aedat2(path: Path, x, y, t, p) -> None:
    """AER-DAT 2.0 as jAER writes it for a DVS128: '#' header lines (CRLF), then big-endian (address, time)."""
    address = (np.asarray(x, np.uint32) << 8) | (np.asarray(y, np.uint32) << 1) | np.asarray(p, np.uint32)
    pairs = np.empty(2 * len(address), dtype=">u4")
    pairs[0::2], pairs[1::2] = address, np.asarray(t, np.uint32)
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n# Timestamps tick is 1 us\r\n"  # noqa: E501
    path.write_bytes(header + pairs.tobytes())


def write_dvs_cifar10(root: Path, rng: np.random.Generator, per_class=3) -> dict:
    out = {}
    for name in DVS_CLASSES:
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(per_class):
            ev = random_events(rng, 80, 128, 500_000, 1_000_000)
            write_aedat2(folder / f"cifar10_{name}_{k}.aedat", *ev)
            out[(name, k)] = ev
    return out


# --------------------------------------------------------------------------------------------- tests
def test_registry_lists_every_set():
    assert set(DATASETS) == {
        "digits",
        "waveform",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "nmnist",
        "dvs_cifar10",
    }
    with pytest.raises(UnknownNameError, match="digits"):
        load_dataset("imagenet")


def test_waveform_follows_breimans_generator_and_is_learnable_by_a_linear_readout():
    """Breiman et al. (1984): class means are the mixtures' means, noise is unit normal, and a linear model
    reaches the literature's ~80-86 % (Bayes ~86 %); the split is fixed, stratified, scaled to [0, 1]."""
    from sklearn.linear_model import LogisticRegression

    from biosnn.data.datasets import waveform_signals

    x, y = waveform_signals(30000, 1)
    i = np.arange(1, 22)
    h = [np.maximum(6 - np.abs(i - c), 0) for c in (11, 15, 7)]
    for label, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
        mean = 0.5 * (h[a] + h[b])  # E[u] = 1/2
        assert np.abs(x[y == label].mean(axis=0) - mean).max() < 0.08
    residual = x[y == 0] - 0.5 * (h[0] + h[1])
    assert abs(residual[:, [0, 20]].std() - 1.0) < 0.02  # ends of the signal: pure noise (h = 0 there)
    train, test = load_dataset("waveform", train=True), load_dataset("waveform", train=False)
    assert (len(train), len(test)) == (4000, 1000)
    xs = torch.stack([train[k][0] for k in range(len(train))])
    assert xs.shape[1:] == (1, 1, 21) and xs.min() >= 0 and xs.max() <= 1
    xt = torch.stack([test[k][0] for k in range(len(test))])
    yt = [test[k][1] for k in range(len(test))]
    clf = LogisticRegression(max_iter=2000).fit(xs.flatten(1).numpy(), [train[k][1] for k in range(len(train))])
    assert 0.80 < clf.score(xt.flatten(1).numpy(), yt) < 0.90
    assert np.bincount(yt).min() > 300  # stratified, three classes


def test_digits_bundled_split_is_fixed_stratified_and_scaled():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits"), load_dataset("digits", train=False)
    assert len(train) + len(test) == 1797 and len(test) == 360
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    allx = torch.stack([train[i][0] for i in range(len(train))])
    assert float(allx.min()) == 0.0 and float(allx.max()) == 1.0
    # every training image is one of sklearn's, scaled by 1/16, with its label
    ref = load_digits()
    match = np.where((ref.images.reshape(1797, -1) / 16.0 == x.numpy().reshape(1, -1)).all(axis=1))[0]
    assert len(match) >= 1 and ref.target[match[0]] == y
    # stratified: every class in both splits; same seed, same split; other seed, other split
    assert {int(test[i][1]) for i in range(len(test))} == set(range(10))
    again = load_dataset("digits", train=False)
    assert all(torch.equal(again[i][0], test[i][0]) for i in range(0, 360, 37))
    other = load_dataset("digits", train=False, split_seed=1)
    assert any(not torch.equal(other[i][0], test[i][0]) for i in range(10))


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_family_reads_idx_files_through_torchvision(tmp_path, rng, name, folder, gz):
    data = write_mnist(tmp_path, folder, rng, gz=gz)
    train = load_dataset(name, root=tmp_path, train=True)
    test = load_dataset(name, root=tmp_path, train=False)
    assert len(train) == 12 and len(test) == 5
    for ds, (images, labels) in ((train, data["train"]), (test, data["t10k"])):
        for i in (0, len(ds) - 1):
            x, y = ds[i]
            assert x.shape == (1, 28, 28)
            assert torch.equal((x * 255).round().to(torch.uint8)[0], torch.as_tensor(images[i]))
            assert y == int(labels[i])


def test_cifar10_reads_pickle_batches_and_checks_md5(tmp_path, rng):
    data = write_cifar10(tmp_path, rng)
    with pytest.raises(DatasetNotFoundError, match="md5"):
        load_dataset("cifar10", root=tmp_path)  # generated files are not the official release
    train = load_dataset("cifar10", root=tmp_path, check_md5=False)
    test = load_dataset("cifar10", root=tmp_path, train=False, check_md5=False)
    assert len(train) == 20 and len(test) == 4
    images, labels = data["data_batch_2"]
    x, y = train[4 + 1]  # second image of the second batch
    assert x.shape == (3, 32, 32)
    assert torch.equal((x * 255).round().to(torch.uint8), torch.as_tensor(images[1]))
    assert y == labels[1]
    assert train.classes[0] == "airplane"
    ti, tl = data["test_batch"]
    assert torch.equal((test[3][0] * 255).round().to(torch.uint8), torch.as_tensor(ti[3])) and test[3][1] == tl[3]


def test_cifar100_fine_labels(tmp_path, rng):
    data = write_cifar100(tmp_path, rng)
    test = load_dataset("cifar100", root=tmp_path, train=False, check_md5=False)
    images, fine = data["test"]
    assert len(test) == 6 and test[5][1] == fine[5]
    assert torch.equal((test[5][0] * 255).round().to(torch.uint8), torch.as_tensor(images[5]))


def test_corrupt_and_missing_files_raise_dataset_errors(tmp_path, rng):
    write_cifar10(tmp_path, rng)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetNotFoundError, match="corrupt"):
        load_dataset("cifar10", root=tmp_path, check_md5=False)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError, match="test_batch"):
        load_dataset("cifar10", root=tmp_path, check_md5=False)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (raw / stem).write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DatasetNotFoundError, match="corrupt"):
        load_dataset("mnist", root=tmp_path)
    for name in ("fashion_mnist", "cifar100", "nmnist", "dvs_cifar10"):
        with pytest.raises(DatasetNotFoundError, match=str(tmp_path)) as info:
            load_dataset(name, root=tmp_path)
        assert "never downloads" in str(info.value) and dataset_info(name).folder.split("/")[0] in str(info.value)


def test_nmnist_bin_files_framed_by_tonic(tmp_path, rng):
    events = write_nmnist(tmp_path, rng)
    train = load_dataset("nmnist", root=tmp_path, steps=2)
    test = load_dataset("nmnist", root=tmp_path, train=False, steps=2)
    assert len(train) == 20 and len(test) == 10
    assert [train[i][1] for i in range(len(train))] == sorted([d for d in range(10)] * 2)
    frames, label = train[3]  # digit 1, second file
    x, y, t, p = events[("Train", 1, 1)]
    assert label == 1 and frames.shape == (2, 2, 34, 34)
    assert np.array_equal(frames.numpy(), expected_frames(x, y, t, p, 2, 34))
    assert float(frames.sum()) == len(t) - 1  # all but the event at the very end (tonic's half-open bins)
    assert float(frames[0, 1].sum()) == 0 and float(frames[1, 0].sum()) == 0  # time bins split at t_split
    raw = train.events(3)
    assert np.array_equal(raw["t"], t) and np.array_equal(raw["x"], x)
    # picklable, so DataLoader workers can use it under any start method
    assert torch.equal(pickle.loads(pickle.dumps(train))[3][0], frames)


def test_nmnist_zip_archive_is_unpacked_in_place(tmp_path, rng):
    write_nmnist(tmp_path, rng, per_class=(1, 1))
    base = tmp_path / "NMNIST"
    with zipfile.ZipFile(base / "test.zip", "w") as zf:
        for f in sorted((base / "Test").rglob("*.bin")):
            zf.write(f, f.relative_to(base))
    shutil.rmtree(base / "Test")
    test = load_dataset("nmnist", root=tmp_path, train=False, steps=3)
    assert len(test) == 10 and (base / "Test" / "9").is_dir()
    assert test[9][0].shape == (3, 2, 34, 34) and test[9][1] == 9


def test_dvs_cifar10_aedat_files_read_split_and_downsampled(tmp_path, rng):
    events = write_dvs_cifar10(tmp_path, rng, per_class=4)
    train = load_dataset("dvs_cifar10", root=tmp_path, steps=2, test_fraction=0.25)
    test = load_dataset("dvs_cifar10", root=tmp_path, train=False, steps=2, test_fraction=0.25)
    assert len(train) == 30 and len(test) == 10
    assert [test[i][1] for i in range(10)] == list(range(10))
    assert test.files[2].name == "cifar10_bird_3.aedat"  # the last file of each class is the test file
    x, y, t, p = events[("bird", 3)]
    raw = test.events(2)
    assert np.array_equal(raw["x"], x) and np.array_equal(raw["y"], y)
    assert np.array_equal(raw["t"], t) and np.array_equal(raw["p"], p)
    frames, label = test[2]
    assert label == 2 and frames.shape == (2, 2, 128, 128)
    assert np.array_equal(frames.numpy(), expected_frames(x, y, t, p, 2, 128))
    assert float(frames[0, 1].sum()) == 0 and float(frames[1, 0].sum()) == 0
    small = load_dataset("dvs_cifar10", root=tmp_path, train=False, steps=10, size=48)
    f48, _ = small[2]
    assert f48.shape == (10, 2, 48, 48)
    # downsampling keeps every event, moved to pixel floor(x * 48 / 128)
    ref48 = expected_frames(x * 48 // 128, y * 48 // 128, t, p, 10, 48)
    assert np.array_equal(f48.numpy(), ref48) and float(f48.sum()) == len(t) - 1
    assert len(small) == 10  # default fraction 0.1 of 4 files rounds to 0: one test file per class is kept


def test_make_loaders_shuffle_is_seeded_and_limit_applies():
    a_train, a_test = make_loaders("digits", batch_size=50, seed=3)
    b_train, _ = make_loaders("digits", batch_size=50, seed=3)
    c_train, _ = make_loaders("digits", batch_size=50, seed=4)
    xa, ya = next(iter(a_train))
    xb, yb = next(iter(b_train))
    xc, yc = next(iter(c_train))
    assert xa.shape == (50, 1, 8, 8)
    assert torch.equal(ya, yb) and torch.equal(xa, xb) and not torch.equal(ya, yc)
    first_test = next(iter(a_test))[1]
    assert torch.equal(first_test, next(iter(a_test))[1])  # the test loader is not shuffled
    small_train, small_test = make_loaders("digits", batch_size=8, seed=0, limit=20)
    assert len(small_train.dataset) == 20 and len(small_test.dataset) == 20
    with pytest.raises(ParameterError, match="batch_size"):
        make_loaders("digits", batch_size=0, seed=0)


def test_options_a_set_does_not_use_are_rejected():
    with pytest.raises(ParameterError, match="steps"):
        load_dataset("digits", steps=5)
    with pytest.raises(ParameterError, match="check_md5"):
        load_dataset("mnist", check_md5=False)
    with pytest.raises(ParameterError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)


def test_dvs_cifar10_aedat4_without_the_aedat_package_names_it(tmp_path, rng):
    import importlib.util

    from biosnn.errors import UnsupportedFeatureError

    if importlib.util.find_spec("aedat") is not None:
        pytest.skip("the 'aedat' package is installed here; this checks the message when it is missing")
    for name in DVS_CLASSES:
        (tmp_path / "CIFAR10DVS" / name).mkdir(parents=True)
        for k in range(2):
            (tmp_path / "CIFAR10DVS" / name / f"{k}.aedat4").write_bytes(b"AEDAT4\r\n")
    test = load_dataset("dvs_cifar10", root=tmp_path, train=False)
    assert len(test) == 10
    with pytest.raises(UnsupportedFeatureError, match="'aedat' package"):
        test[0]


def test_corrupt_event_files_are_refused_when_the_set_is_opened(tmp_path, rng):
    """Not when the 100th sample is read mid-epoch: the whole file's length (N-MNIST) and the header (AER-DAT)."""
    write_nmnist(tmp_path / "n", rng, per_class=(2, 1))
    assert len(load_dataset("nmnist", root=tmp_path / "n", steps=2)) == 20
    victim = tmp_path / "n" / "NMNIST" / "Train" / "7" / "07001.bin"
    victim.write_bytes(victim.read_bytes()[:-2])  # truncated mid-event
    with pytest.raises(DatasetNotFoundError, match=r"07001\.bin' is corrupt or truncated: \d+ bytes"):
        load_dataset("nmnist", root=tmp_path / "n", steps=2)
    write_dvs_cifar10(tmp_path / "d", rng, per_class=2)
    folder = tmp_path / "d" / "CIFAR10DVS" / "cat"
    good = (folder / "cifar10_cat_0.aedat").read_bytes()
    (folder / "cifar10_cat_0.aedat").write_bytes(good[:-3])
    with pytest.raises(DatasetNotFoundError, match=r"cifar10_cat_0\.aedat' is corrupt or truncated"):
        load_dataset("dvs_cifar10", root=tmp_path / "d", steps=2)
    (folder / "cifar10_cat_0.aedat").write_bytes(b"no header at all")
    with pytest.raises(DatasetNotFoundError, match=r"cifar10_cat_0\.aedat' is not an AER-DAT file"):
        load_dataset("dvs_cifar10", root=tmp_path / "d", steps=2)
    (folder / "cifar10_cat_0.aedat").write_bytes(good.replace(b"AER-DAT2.0", b"AER-DAT3.1"))
    with pytest.raises(DatasetNotFoundError, match="AER-DAT 3.1"):
        load_dataset("dvs_cifar10", root=tmp_path / "d", steps=2)


def test_an_event_file_that_goes_bad_after_opening_names_the_file(tmp_path, rng):
    write_nmnist(tmp_path, rng, per_class=(1, 1))
    train = load_dataset("nmnist", root=tmp_path, steps=2)
    train.files[3].unlink()  # removed after the set was opened
    with pytest.raises(DatasetNotFoundError, match=r"event file .*03000\.bin' cannot be read"):
        train[3]


def test_corrupt_archives_name_the_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b" + b"truncated gzip")
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10-python\.tar\.gz' is corrupt or truncated"):
        load_dataset("cifar10", root=tmp_path)
    (tmp_path / "NMNIST").mkdir()
    (tmp_path / "NMNIST" / "train.zip").write_bytes(b"PK not really a zip")
    with pytest.raises(DatasetNotFoundError, match=r"train\.zip' is corrupt or truncated"):
        load_dataset("nmnist", root=tmp_path, steps=2)


@pytest.mark.parametrize(
    "options, phrase",
    [
        ({"train": "false"}, "'train' must be True"),
        ({"train": 0}, "'train' must be True"),
        ({"check_md5": "no"}, "'check_md5' must be True, False or None"),
        ({"split_seed": -1}, "'split_seed' must be a non-negative integer"),
        ({"split_seed": 1.5}, "'split_seed' must be a non-negative integer"),
        ({"root": 3}, "'root' must be a path"),
    ],
)
def test_options_of_the_wrong_type_are_refused(options, phrase):
    name = "cifar10" if "check_md5" in options else "digits"
    with pytest.raises(ParameterError, match=re.escape(phrase)):
        load_dataset(name, **options)
