"""MNIST and Fashion-MNIST from the four original gzip IDX files.

Where the files are looked for, in order:
  1. `root`, when given: `root/<folder>`, then torchvision's `root/<Folder>/raw`, then `root`
     itself (<folder> is "mnist" or "fashion-mnist", <Folder> "MNIST" or "FashionMNIST");
  2. the environment variable PYCONV_DATA, the same way (so it may name the directory holding the
     four files, or a parent holding `mnist/` and `fashion-mnist/`);
  3. the per-user cache `~/.cache/pyconv/<folder>` (where `download=True` puts them).
Each file may be gzip-compressed (`train-images-idx3-ubyte.gz`, whose MD5 is checked against
the published value before it is read) or not (`train-images-idx3-ubyte`, as torchvision
leaves it after extracting; there is no published MD5 to check it against).
"""
import hashlib
import os

import numpy as np

from .dataset import Dataset
from .idx import read_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")



def _urlopen(url, timeout):
    """The one place that opens URLs (replaced in tests)."""
    import urllib.request  # slow to import (ssl, http): only when downloading
    return urllib.request.urlopen(url, timeout=timeout)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir(folder):
    return os.path.join(os.path.expanduser("~"), ".cache", "pyconv", folder)


def _existing(directory, name):
    """The path of file `name` (a .gz name) in `directory`, compressed or not; None if absent."""
    for path in (os.path.join(directory, name), os.path.join(directory, name[:-len(".gz")])):
        if os.path.isfile(path):
            return path
    return None


class MNIST(Dataset):
    """The MNIST digits: `data` uint8 (N, 28, 28), `targets` int64 (N,).

    `dataset[i]` is `(transform(image), label)`; `dataset[index_array]` returns a whole batch the
    same way (transforms work on batches), which DataLoader uses.
    """
    folder = "mnist"
    torchvision_folder = "MNIST"
    md5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
           "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
           "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
           "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
    classes = tuple(str(d) for d in range(10))
    mean, std = 0.1307, 0.3081
    batched = True

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=False, verify=True):
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.root = self._find(root, download)
        self.data, self.targets = self._read(self.root, train, verify)

    def _read(self, directory, train, verify):
        """(images uint8 (N, 28, 28), labels int64 (N,)) of the split, checked."""
        prefix = "train" if train else "t10k"
        images = _existing(directory, f"{prefix}-images-idx3-ubyte.gz")
        labels = _existing(directory, f"{prefix}-labels-idx1-ubyte.gz")
        if verify:
            for path in (images, labels):
                if path.endswith(".gz"):
                    self._check_md5(path)
        data, targets = read_idx(images), read_idx(labels).astype(np.int64)
        if data.ndim != 3 or len(data) != len(targets):
            raise ValueError(f"{directory}: images {data.shape} and labels {targets.shape} do not match")
        return data, targets

    # -- locating and downloading ---------------------------------------------------------
    @classmethod
    def _layouts(cls, base):
        """The folders under `base` that may hold the files: pyconv's, torchvision's, base."""
        base = os.path.expanduser(str(base))
        return [os.path.join(base, cls.folder), os.path.join(base, cls.torchvision_folder, "raw"), base]

    @classmethod
    def _candidates(cls, root):
        # an explicit root is the only place looked at (besides the cache)
        base = root if root is not None else os.environ.get("PYCONV_DATA")
        return (cls._layouts(base) if base else []) + [cache_dir(cls.folder)]

    @classmethod
    def _download_dir(cls, root):
        return os.path.join(os.path.expanduser(str(root)), cls.folder) if root else cache_dir(cls.folder)

    @classmethod
    def _find(cls, root, download):
        candidates = cls._candidates(root)
        for d in candidates:
            if all(_existing(d, f) for f in FILES):
                return d
        searched = f"{', '.join(FILES)} (or the same without .gz) were not found in any of {', '.join(candidates)}"
        if download:
            target = cls._download_dir(root)
            try:
                cls.download(target)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{cls.__name__}: {searched}.") from exc
            return target
        raise FileNotFoundError(
            f"{cls.__name__}: {searched}. Pass root=DIR (or --data-dir DIR), set PYCONV_DATA to "
            f"the directory holding them, or use download=True (--download).")

    def _check_md5(self, path):
        name = os.path.basename(path)
        got = _md5(path)
        if got != self.md5[name]:
            raise ValueError(f"{path}: MD5 {got} does not match the published {self.md5[name]} of "
                             f"{type(self).__name__}'s {name}; the file is corrupt or from another dataset")

    @classmethod
    def download(cls, directory):
        """Fetch the four files from the first mirror that answers, check their MD5 and store
        them in `directory` (each written to a temporary file, then renamed)."""
        os.makedirs(directory, exist_ok=True)
        for name in FILES:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and _md5(path) == cls.md5[name]:
                continue
            errors = []
            for mirror in cls.mirrors:
                url = mirror + name
                tmp = f"{path}.part{os.getpid()}"
                try:
                    with _urlopen(url, timeout=30) as response, open(tmp, "wb") as f:
                        for block in iter(lambda: response.read(1 << 20), b""):
                            f.write(block)
                    got = _md5(tmp)
                    if got != cls.md5[name]:
                        raise ValueError(f"MD5 {got} instead of {cls.md5[name]}")
                    os.replace(tmp, path)
                    break
                except Exception as exc:  # try the next mirror, report them all at the end
                    errors.append(f"  {url}: {type(exc).__name__}: {exc}")
                    if os.path.exists(tmp):
                        os.remove(tmp)
            else:
                raise RuntimeError(
                    f"{cls.__name__}: could not download {name} (no network?). Tried:\n" + "\n".join(errors) +
                    f"\nDownload the four files {', '.join(FILES)} by hand into {directory} "
                    f"or point PYCONV_DATA at a directory that has them.")

    # -- Dataset --------------------------------------------------------------------------
    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image, target = self.data[index], self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images, root={self.root!r})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: same layout and file names as MNIST, clothing classes."""
    folder = "fashion-mnist"
    torchvision_folder = "FashionMNIST"
    md5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
           "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
           "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
           "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/")
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    mean, std = 0.2860, 0.3530
