r"""Data sets: scikit-learn digits (bundled, the default), Breiman's waveforms (generated), MNIST, Fashion-MNIST, CIFAR10/100 (torchvision),
N-MNIST and DVS-CIFAR10 (tonic's readers and frame transform).

Nothing downloads here. A data set that is not on disk stops with
:class:`~biosnn.errors.DatasetNotFoundError` naming the path that was searched and how to get the files;
downloaded archives that are not yet unpacked are unpacked in place (torchvision's / tonic's
``extract_archive``).

Layouts under ``root`` (the layouts torchvision and tonic use):

================  ====================================================================================
``digits``        none (``sklearn.datasets.load_digits``, 1797 8x8 images, scaled to [0, 1])
``waveform``      none (Breiman's waveform generator, 5000 signals of 21 samples, 3 classes; generated)
``mnist``         ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or the ``.gz`` archives)
``fashion_mnist`` ``FashionMNIST/raw/...`` (same file names)
``cifar10``       ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` (or the ``.tar.gz``)
``cifar100``      ``cifar-100-python/{train,test,meta}`` (or the ``.tar.gz``)
``nmnist``        ``NMNIST/{Train,Test}/<digit>/*.bin`` (or ``NMNIST/{train,test}.zip``)
``dvs_cifar10``   ``CIFAR10DVS/<class name>/*.aedat`` (the original AER-DAT 2.0 release) or ``*.aedat4``
================  ====================================================================================

Samples: static sets give ``(image[C, H, W] float32 in [0, 1], label)``; event sets give
``(frames[T, 2, H, W] float32 event counts, label)`` framed by tonic's ``ToFrame(n_time_bins=T)`` after an
optional ``Downsample`` to ``size x size``. Feed static images through an encoder
(:mod:`biosnn.data.encoders`) and event frames through the ``"frames"`` encoder, which makes them
time-major.

CIFAR files are checked against the official md5 sums by torchvision; ``check_md5=False`` accepts files
made elsewhere (subsets, the tests' generated files) by building the torchvision class with the sums left
out (its documented ``check_integrity(path, md5=None)``: presence only). DVS-CIFAR10 has no official split:
the last ``test_fraction`` (default 0.1) of each class's files, in sorted order, form the test set (at
least one file per class, and at least one left for training).
"""  # noqa: E501

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from biosnn.errors import DatasetNotFoundError, ParameterError, UnsupportedFeatureError
from biosnn.registry import Registry
from biosnn.units import check_range

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetSpec",
    "load_dataset",
    "make_loaders",
    "dataset_info",
    "default_root",
    "ImageDataset",
    "EventDataset",
]

DATA_ENV = "BIOSNN_DATA_DIR"


def default_root() -> Path:
    """The data folder: ``$BIOSNN_DATA_DIR`` when set, else ``./data``."""
    return Path(os.environ.get(DATA_ENV, "data")).expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set holds: ``kind`` ("static" or "events"), sample shape, classes, where it lives."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    folder: str
    source: str
    default_steps: int | None = None


@dataclass(frozen=True)
class _Options:
    steps: int | None
    size: int | None
    check_md5: bool
    test_fraction: float | None
    split_seed: int


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set: its :class:`DatasetInfo`, its loader, and the options the loader uses."""

    info: DatasetInfo
    load: Callable[[Path, bool, _Options], Dataset]
    options: frozenset[str]


DATASETS: Registry[DatasetSpec] = Registry("data set")


# ------------------------------------------------------------------------------------ sample containers
class ImageDataset(Dataset):
    """Images held as one ``uint8 [N, C, H, W]`` (or float) tensor; samples are float32 in [0, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, scale: float, classes: list[str]) -> None:
        if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
            raise ParameterError(
                f"images [N, C, H, W] and labels [N] expected, got {tuple(images.shape)}, {tuple(labels.shape)}"
            )
        self.images, self.labels, self.scale, self.classes = images, labels.long(), float(scale), classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].to(torch.float32) / self.scale, int(self.labels[index])


class EventDataset(Dataset):
    """Event recordings on disk, read with a tonic reader and framed with tonic's ``ToFrame``."""

    def __init__(
        self,
        files: list[Path],
        labels: list[int],
        *,
        reader: Callable[[Path], np.ndarray],
        sensor_size: tuple[int, int, int],
        steps: int,
        size: int | None,
        classes: list[str],
    ) -> None:
        import tonic.transforms as tt

        self.files, self.labels, self.reader, self.classes = files, labels, reader, classes
        self.steps, self.sensor_size = steps, sensor_size
        transforms: list[Callable] = []
        frame_size = sensor_size
        if size is not None and (size, size) != sensor_size[:2]:
            transforms.append(tt.Downsample(sensor_size=sensor_size, target_size=(size, size)))
            frame_size = (size, size, sensor_size[2])
        transforms.append(tt.ToFrame(sensor_size=frame_size, n_time_bins=steps))
        self.transform = tt.Compose(transforms)
        self.frame_shape = (steps, frame_size[2], frame_size[1], frame_size[0])

    def __len__(self) -> int:
        return len(self.files)

    def events(self, index: int) -> np.ndarray:
        """The raw events of sample ``index`` (structured array with fields x, y, t, p)."""
        try:
            return self.reader(self.files[index])
        except (OSError, ValueError, IndexError, KeyError, TypeError, AssertionError, NameError, EOFError) as err:
            if isinstance(err, DatasetNotFoundError):
                raise
            raise DatasetNotFoundError(
                f"event file {str(self.files[index])!r} cannot be read (corrupt or not this "
                f"data set): {type(err).__name__}: {err}"
            ) from None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        events = self.events(index)
        if len(events) == 0:
            return torch.zeros(self.frame_shape), self.labels[index]
        frames = torch.as_tensor(self.transform(events), dtype=torch.float32)
        if tuple(frames.shape) != self.frame_shape:
            raise DatasetNotFoundError(
                f"{self.files[index]}: framed to {tuple(frames.shape)}, expected {self.frame_shape}; "
                "the file's coordinates do not fit the sensor (corrupt or not this data set)"
            )
        return frames, self.labels[index]


# ------------------------------------------------------------------------------------------ helpers
def _missing(info: DatasetInfo, path: Path, detail: str = "") -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"data set {info.name!r} not found at {path}{' (' + detail + ')' if detail else ''}. biosnn never "
        f"downloads: get it from {info.source} and place it under root as {info.folder}"
    )


def _extract_if_archived(archive: Path, target: Path, extract: Callable[[str, str], Any] | None = None) -> None:
    """Unpack a downloaded archive into its folder when the unpacked files are not there yet.

    A corrupt or truncated archive raises :class:`~biosnn.errors.DatasetNotFoundError` naming it.
    """
    if not target.exists() and archive.is_file():
        import tarfile
        import zipfile

        if extract is None:
            from torchvision.datasets.utils import extract_archive as extract
        try:
            extract(str(archive), str(archive.parent))
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError) as err:
            raise DatasetNotFoundError(
                f"archive {str(archive)!r} is corrupt or truncated and cannot be unpacked "
                f"({type(err).__name__}: {err}); download it again"
            ) from None


# ----------------------------------------------------------------------------------------------- digits
def _load_digits(root: Path, train: bool, opt: _Options) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)  # [N, 1, 8, 8], values 0..16
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    index = np.arange(len(labels))
    fraction = 0.2 if opt.test_fraction is None else opt.test_fraction
    train_idx, test_idx = train_test_split(
        index, test_size=fraction, random_state=opt.split_seed, stratify=bunch.target
    )
    idx = torch.as_tensor(np.sort(train_idx if train else test_idx))
    return ImageDataset(images[idx], labels[idx], scale=16.0, classes=[str(d) for d in range(10)])


# --------------------------------------------------------------------------------------------- waveform
WAVEFORM_SIZE = 5000  # as the UCI "Waveform Database Generator (Version 1)" release
WAVEFORM_SEED = 19840101  # the data set is one fixed draw; ``split_seed`` only chooses the split


def waveform_signals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Breiman's waveform data (Breiman, Friedman, Olshen & Stone 1984, *CART*, section 2.6.2).

    Three base waves on :math:`i = 1 \dots 21`: :math:`h_1(i) = \max(6 - |i - 11|, 0)`,
    :math:`h_2(i) = h_1(i - 4)`, :math:`h_3(i) = h_1(i + 4)`. A signal of class :math:`c` mixes two of them,

    .. math:: x_i = u\, h_a(i) + (1 - u)\, h_b(i) + \epsilon_i, \quad u \sim U(0, 1),\ \epsilon_i \sim N(0, 1),

    with :math:`(a, b) = (1, 2), (1, 3), (2, 3)` for classes 0, 1, 2 (equally likely). The Bayes error is
    about 14 %; CART's own figure is 28 % error.

    Returns
    -------
    signals, labels
        ``float64 [n, 21]`` and ``int64 [n]``, drawn by ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(1, 22, dtype=np.float64)
    h1 = np.maximum(6.0 - np.abs(i - 11.0), 0.0)
    h2 = np.maximum(6.0 - np.abs(i - 15.0), 0.0)
    h3 = np.maximum(6.0 - np.abs(i - 7.0), 0.0)
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    waves = np.stack([h1, h2, h3])
    labels = rng.integers(0, 3, size=n)
    u = rng.uniform(0.0, 1.0, size=(n, 1))
    a, b = waves[pairs[labels, 0]], waves[pairs[labels, 1]]
    signals = u * a + (1.0 - u) * b + rng.standard_normal((n, 21))
    return signals, labels.astype(np.int64)


def _load_waveform(root: Path, train: bool, opt: _Options) -> Dataset:
    from sklearn.model_selection import train_test_split

    signals, labels = waveform_signals(WAVEFORM_SIZE, WAVEFORM_SEED)
    # as an image [N, 1, 1, 21] in [0, 1]: the values lie in about [-4, 10]; clipped to [-3, 9], mapped linearly
    images = torch.as_tensor((np.clip(signals, -3.0, 9.0) + 3.0) / 12.0, dtype=torch.float32)[:, None, None, :]
    index = np.arange(len(labels))
    fraction = 0.2 if opt.test_fraction is None else opt.test_fraction
    train_idx, test_idx = train_test_split(index, test_size=fraction, random_state=opt.split_seed, stratify=labels)
    idx = torch.as_tensor(np.sort(train_idx if train else test_idx))
    return ImageDataset(images[idx], torch.as_tensor(labels)[idx], scale=1.0, classes=["h1+h2", "h1+h3", "h2+h3"])


# ------------------------------------------------------------------------------------------------ MNIST
def _mnist_loader(cls_name: str) -> Callable[[Path, bool, _Options], Dataset]:
    def load(root: Path, train: bool, opt: _Options) -> Dataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        info = DATASETS[_NAME_OF[cls_name]].info
        raw = root / cls_name / "raw"
        for url, _md5 in cls.resources:
            archive = raw / os.path.basename(url)
            _extract_if_archived(archive, raw / archive.stem)
        missing = [
            os.path.splitext(os.path.basename(url))[0]
            for url, _ in cls.resources
            if not (raw / os.path.splitext(os.path.basename(url))[0]).is_file()
        ]
        if missing:
            raise _missing(info, raw, "missing " + ", ".join(missing))
        try:
            ds = cls(str(root), train=train, download=False)
        except (RuntimeError, AssertionError, TypeError, ValueError) as err:
            raise DatasetNotFoundError(f"data set {info.name!r} at {raw} is corrupt or incomplete: {err}") from err
        return ImageDataset(ds.data.unsqueeze(1), ds.targets, scale=255.0, classes=list(ds.classes))

    return load


_NAME_OF = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist"}


# ------------------------------------------------------------------------------------------------ CIFAR
def _cifar_loader(cls_name: str, name: str) -> Callable[[Path, bool, _Options], Dataset]:
    def load(root: Path, train: bool, opt: _Options) -> Dataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        info = DATASETS[name].info
        folder = root / cls.base_folder
        _extract_if_archived(root / cls.filename, folder)
        if not folder.is_dir():
            raise _missing(info, folder)
        missing = [
            f for f, _ in cls.train_list + cls.test_list + [[cls.meta["filename"], None]] if not (folder / f).is_file()
        ]
        if missing:
            raise _missing(info, folder, "missing " + ", ".join(missing))
        if not opt.check_md5:
            cls = _without_md5(cls)
        try:
            ds = cls(str(root), train=train, download=False)
        except RuntimeError as err:
            raise DatasetNotFoundError(
                f"data set {info.name!r} at {folder} does not match the official release's md5 sums ({err}); "
                "pass check_md5=False to use files made elsewhere"
            ) from err
        except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as err:
            raise DatasetNotFoundError(f"data set {info.name!r} at {folder} is corrupt: {err!r}") from err
        images = torch.as_tensor(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return ImageDataset(images, torch.as_tensor(ds.targets), scale=255.0, classes=list(ds.classes))

    return load


def _without_md5(cls: type) -> type:
    """The torchvision CIFAR class with its md5 sums left out (``check_integrity(path, None)``: presence only)."""
    return type(
        cls.__name__ + "Files",
        (cls,),
        {
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


# ----------------------------------------------------------------------------------------------- N-MNIST
def _read_nmnist(path: Path) -> np.ndarray:
    """Events of an N-MNIST ``.bin`` file (tonic's ``read_mnist_file``); module level, so workers can pickle it."""
    from tonic.datasets import NMNIST
    from tonic.io import read_mnist_file

    return read_mnist_file(str(path), dtype=NMNIST.dtype)


def _load_nmnist(root: Path, train: bool, opt: _Options) -> Dataset:
    from tonic.datasets import NMNIST

    info = DATASETS["nmnist"].info
    base = root / "NMNIST"
    folder = base / (NMNIST.train_folder if train else NMNIST.test_folder)
    archive = base / (NMNIST.train_filename if train else NMNIST.test_filename)
    if not folder.is_dir() and archive.is_file():
        from tonic.download_utils import extract_archive

        _extract_if_archived(archive, folder, lambda a, _: extract_archive(a, str(base)))
    files = sorted(folder.glob("*/*.bin")) if folder.is_dir() else []
    if not files:
        raise _missing(info, folder, "no .bin event files")
    for f in files:  # checked when the data set is opened, not when the sample is read mid-epoch
        n = f.stat().st_size
        if n % 5:
            raise DatasetNotFoundError(
                f"N-MNIST event file {str(f)!r} is corrupt or truncated: {n} bytes, not a whole number of 5-byte events"
            )
    labels = [int(f.parent.name[-1]) for f in files]
    return EventDataset(
        files,
        labels,
        reader=_read_nmnist,
        sensor_size=NMNIST.sensor_size,
        steps=opt.steps,
        size=opt.size,
        classes=list(NMNIST.classes),
    )


# ------------------------------------------------------------------------------------------- DVS-CIFAR10
_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_DVS_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])


def read_dvs128_aedat(path: Path | str) -> np.ndarray:
    """Events of an AER-DAT 2.0 ``.aedat`` file from a DVS128 (the original CIFAR10-DVS release).

    The header and the big-endian (address, timestamp) pairs are read with tonic's
    ``read_aedat_header_from_file`` / ``get_aer_events_from_file``; addresses are decoded as tonic's
    ``read_dvs_128`` does (``x = addr >> 8 & 0x7F``, ``y = addr >> 1 & 0x7F``, ``p = addr & 1``).
    (tonic 1.7's ``read_dvs_128`` itself fails: it unpacks two of the header reader's three results.)
    """
    from tonic.io import get_aer_events_from_file, read_aedat_header_from_file

    version, start, _ = read_aedat_header_from_file(str(path))
    raw = get_aer_events_from_file(str(path), version, start)
    address = raw["address"].astype(np.int64)
    events = np.empty(len(raw), dtype=_DVS_DTYPE)
    events["x"] = (address >> 8) & 0x7F
    events["y"] = (address >> 1) & 0x7F
    events["p"] = address & 0x1
    events["t"] = raw["timeStamp"].astype(np.int64)
    return events


def check_aedat(path: Path | str) -> None:
    """Check that an ``.aedat`` file has an AER-DAT 2.x header and whole 8-byte events after it.

    Raises :class:`~biosnn.errors.DatasetNotFoundError` naming the file otherwise (DVS-CIFAR10 files are
    checked when the data set is opened, before any sample is read).
    """
    from tonic.io import read_aedat_header_from_file

    try:
        version, start, _ = read_aedat_header_from_file(str(path))
    except (UnboundLocalError, ValueError, IndexError, OSError, AssertionError) as err:
        raise DatasetNotFoundError(
            f"{str(path)!r} is not an AER-DAT file: its header does not parse ({type(err).__name__})"
        ) from None
    if not 2 <= version < 3:
        raise DatasetNotFoundError(f"{str(path)!r} is AER-DAT {version}; DVS-CIFAR10 .aedat files are AER-DAT 2.0")
    n = os.path.getsize(path) - start
    if n % 8:
        raise DatasetNotFoundError(
            f"{str(path)!r} is corrupt or truncated: {n} bytes of events, not a whole number of 8-byte events"
        )


def _read_aedat4(path: Path) -> np.ndarray:
    try:
        from tonic.io import read_aedat4

        events = read_aedat4(str(path))
    except ImportError as err:
        raise UnsupportedFeatureError(
            f"{path}: reading .aedat4 files needs the 'aedat' package (tonic's read_aedat4); "
            "install it, or use the original .aedat release"
        ) from err
    events.dtype.names = ["t", "x", "y", "p"]
    return events


def _read_dvs_file(path: Path) -> np.ndarray:
    return read_dvs128_aedat(path) if path.suffix == ".aedat" else _read_aedat4(path)


def _load_dvs_cifar10(root: Path, train: bool, opt: _Options) -> Dataset:
    info = DATASETS["dvs_cifar10"].info
    base = root / "CIFAR10DVS"
    if not base.is_dir():
        raise _missing(info, base)
    fraction = 0.1 if opt.test_fraction is None else opt.test_fraction
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(_DVS_CLASSES):
        found = sorted((base / name).glob("*.aedat")) + sorted((base / name).glob("*.aedat4"))
        # at least one test and one training file per class whenever a class has two or more files
        n_test = min(len(found) - 1, max(1, int(round(fraction * len(found))))) if len(found) > 1 else 0
        chosen = found[len(found) - n_test :] if not train else found[: len(found) - n_test]
        files += chosen
        labels += [label] * len(chosen)
    if not files:
        raise _missing(
            info,
            base,
            f"no .aedat/.aedat4 files for the {'training' if train else 'test'} split "
            f"in the class folders {', '.join(_DVS_CLASSES)}",
        )
    for f in files:
        if f.suffix == ".aedat":
            check_aedat(f)
    return EventDataset(
        files,
        labels,
        reader=_read_dvs_file,
        sensor_size=(128, 128, 2),
        steps=opt.steps,
        size=opt.size,
        classes=list(_DVS_CLASSES),
    )


# -------------------------------------------------------------------------------------------- registry
_EVENT_OPTIONS = frozenset({"steps", "size"})
DATASETS.register(
    "digits",
    DatasetSpec(
        DatasetInfo("digits", "static", (1, 8, 8), 10, "", "scikit-learn (bundled)"),
        _load_digits,
        frozenset({"test_fraction", "split_seed"}),
    ),
)
DATASETS.register(
    "waveform",
    DatasetSpec(
        DatasetInfo("waveform", "static", (1, 1, 21), 3, "", "generated (Breiman et al. 1984 waveform generator)"),
        _load_waveform,
        frozenset({"test_fraction", "split_seed"}),
    ),
)
DATASETS.register(
    "mnist",
    DatasetSpec(
        DatasetInfo(
            "mnist",
            "static",
            (1, 28, 28),
            10,
            "MNIST/raw",
            "torchvision.datasets.MNIST(root, download=True) on a machine with network access",
        ),
        _mnist_loader("MNIST"),
        frozenset(),
    ),
)
DATASETS.register(
    "fashion_mnist",
    DatasetSpec(
        DatasetInfo(
            "fashion_mnist",
            "static",
            (1, 28, 28),
            10,
            "FashionMNIST/raw",
            "torchvision.datasets.FashionMNIST(root, download=True) on a machine with network access",
        ),
        _mnist_loader("FashionMNIST"),
        frozenset(),
    ),
)
DATASETS.register(
    "cifar10",
    DatasetSpec(
        DatasetInfo(
            "cifar10",
            "static",
            (3, 32, 32),
            10,
            "cifar-10-batches-py",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpacked, or the .tar.gz in root)",
        ),
        _cifar_loader("CIFAR10", "cifar10"),
        frozenset({"check_md5"}),
    ),
)
DATASETS.register(
    "cifar100",
    DatasetSpec(
        DatasetInfo(
            "cifar100",
            "static",
            (3, 32, 32),
            100,
            "cifar-100-python",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (unpacked, or the .tar.gz in root)",
        ),
        _cifar_loader("CIFAR100", "cifar100"),
        frozenset({"check_md5"}),
    ),
)
DATASETS.register(
    "nmnist",
    DatasetSpec(
        DatasetInfo(
            "nmnist",
            "events",
            (2, 34, 34),
            10,
            "NMNIST/{Train,Test}",
            "https://www.garrickorchard.com/datasets/n-mnist (Train/Test folders of .bin files, or "
            "tonic.datasets.NMNIST(root) on a machine with network access)",
            default_steps=10,
        ),
        _load_nmnist,
        _EVENT_OPTIONS,
    ),
)
DATASETS.register(
    "dvs_cifar10",
    DatasetSpec(
        DatasetInfo(
            "dvs_cifar10",
            "events",
            (2, 128, 128),
            10,
            "CIFAR10DVS/<class>",
            "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 (one folder of .aedat files per class)",
            default_steps=10,
        ),
        _load_dvs_cifar10,
        _EVENT_OPTIONS | {"test_fraction"},
    ),
)


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered data set."""
    return DATASETS[name].info


# ------------------------------------------------------------------------------------------ public API
def load_dataset(
    name: str = "digits",
    *,
    root: str | os.PathLike | None = None,
    train: bool = True,
    steps: int | None = None,
    size: int | None = None,
    check_md5: bool | None = None,
    test_fraction: float | None = None,
    split_seed: int | None = None,
) -> Dataset:
    """Load a registered data set from disk (never downloading).

    Parameters
    ----------
    name
        A name in :data:`DATASETS`: ``digits`` (default), ``waveform``, ``mnist``, ``fashion_mnist``, ``cifar10``,
        ``cifar100``, ``nmnist``, ``dvs_cifar10``.
    root
        Folder holding the data set's layout (module docstring); default :func:`default_root`.
    train
        Training split (``True``) or test split.
    steps
        Event sets: number of frames :math:`T` (``ToFrame(n_time_bins=steps)``); default per data set.
    size
        Event sets: downsample the sensor to ``size x size`` (e.g. 48 for DVS-CIFAR10).
    check_md5
        CIFAR: verify the official md5 sums (default ``True``).
    test_fraction
        ``digits`` and ``waveform`` (default 0.2, stratified) and ``dvs_cifar10`` (default 0.1 per class).
    split_seed
        ``digits`` and ``waveform``: seed of the fixed train/test split (default 0).

    Raises
    ------
    UnknownNameError
        For an unknown name (listing the known ones).
    ParameterError
        For an option the data set does not use, or an invalid value.
    DatasetNotFoundError
        When the files are not on disk (naming the path and how to get them) or are corrupt.
    """
    spec = DATASETS[name]
    if not isinstance(train, bool):
        raise ParameterError(f"parameter 'train' must be True (training split) or False (test split), got {train!r}")
    if check_md5 is not None and not isinstance(check_md5, bool):
        raise ParameterError(f"parameter 'check_md5' must be True, False or None, got {check_md5!r}")
    if split_seed is not None and (isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0):
        raise ParameterError(f"parameter 'split_seed' must be a non-negative integer, got {split_seed!r}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ParameterError(f"parameter 'root' must be a path, got {root!r}")
    given = {
        "steps": steps,
        "size": size,
        "check_md5": check_md5,
        "test_fraction": test_fraction,
        "split_seed": split_seed,
    }
    unused = sorted(k for k, v in given.items() if v is not None and k not in spec.options)
    if unused:
        raise ParameterError(f"data set {name!r} does not use the option(s) {', '.join(unused)}")
    if steps is None:
        steps = spec.info.default_steps
    elif isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"parameter 'steps' must be a positive integer, got {steps!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ParameterError(f"parameter 'size' must be a positive integer, got {size!r}")
    if test_fraction is not None:
        check_range("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    options = _Options(
        steps,
        size,
        True if check_md5 is None else bool(check_md5),
        test_fraction,
        0 if split_seed is None else int(split_seed),
    )
    return spec.load(Path(root).expanduser() if root is not None else default_root(), bool(train), options)


def make_loaders(
    name: str = "digits",
    *,
    root: str | os.PathLike | None = None,
    batch_size: int = 64,
    seed: int = 0,
    test_batch_size: int | None = None,
    steps: int | None = None,
    size: int | None = None,
    check_md5: bool | None = None,
    test_fraction: float | None = None,
    split_seed: int | None = None,
    limit: int | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
) -> tuple[DataLoader, DataLoader]:
    """Training and test :class:`~torch.utils.data.DataLoader` of a data set, with seeded shuffling.

    The training loader reshuffles every epoch from a ``torch.Generator`` seeded with ``seed`` (the same
    ``seed`` gives the same batches); the test loader keeps the data set's order. ``limit`` keeps only the
    first ``limit`` samples of each split (quick runs). The other options are those of
    :func:`load_dataset`.
    """
    for key, value in (("batch_size", batch_size), ("num_workers", num_workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "batch_size" else 0):
            raise ParameterError(
                f"parameter {key!r} must be a {'positive' if key == 'batch_size' else 'non-negative'} "
                f"integer, got {value!r}"
            )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ParameterError(f"parameter 'limit' must be a positive integer, got {limit!r}")
    kw = dict(
        root=root, steps=steps, size=size, check_md5=check_md5, test_fraction=test_fraction, split_seed=split_seed
    )
    train_set = load_dataset(name, train=True, **kw)
    test_set = load_dataset(name, train=False, **kw)
    if limit is not None:
        train_set = torch.utils.data.Subset(train_set, range(min(limit, len(train_set))))
        test_set = torch.utils.data.Subset(test_set, range(min(limit, len(test_set))))
    generator = torch.Generator().manual_seed(int(seed))
    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        num_workers=num_workers,
        drop_last=drop_last,
    )
    test_loader = DataLoader(test_set, batch_size=test_batch_size or batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader
