"""The identity of a data set on disk: which files a run reads, cheaply (no file is read or hashed).

:func:`data_identity` digests the sorted (path relative to the data set's folder, size, modification
time) of every file that the data set's two splits are read from: for the small sets the located
files (:func:`~labelaug_core.data.sources.locate`: Fashion-MNIST's four idx files, the CIFAR batches,
SVHN's .mat files), for folder sets (imagefolder, imagenet) every file under ``<root>/train`` and
``<root>/val`` (or ``test``). A copy made with ``cp -p`` or ``rsync -a`` keeps the identity; a file
replaced, added, removed, renamed or touched changes it (a conservative test: changed data are never
taken for the same, the same data may be taken for changed). Its cost is a ``stat`` per file: four for
Fashion-MNIST; for ImageNet's 1.3 million files a few seconds once per process (folder sets are
memoised per process while no folder's modification time changes).

The run directory records it (``data.json``; :mod:`labelaug_core.runs.store`), and a cached run is
reused only for the same data (:func:`labelaug_core.runs.store.check_cached_data`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from labelaug_core.data.folders import folder_root
from labelaug_core.data.registry import SPLITS, check_name
from labelaug_core.data.sources import locate

_FOLDER_MEMO: dict[tuple, dict] = {}


def _digest(entries: list[tuple[str, int, int]]) -> str:
    return hashlib.sha1(json.dumps(sorted(entries)).encode()).hexdigest()[:16]


def _split_folders(root: Path):
    """``(folder, file names)`` of every folder under the splits' folders of ``root``, in a fixed order."""
    for split in ("train", "val", "test"):
        if (root / split).is_dir():
            for folder, dirs, files in os.walk(root / split):
                dirs.sort()
                yield folder, files


def _folder_entries(root: Path) -> tuple[list[tuple[str, int, int]], tuple]:
    """(relative path, size, mtime_ns) of every file under the splits' folders, and the folders' stamp."""
    entries, stamp = [], []
    for folder, files in _split_folders(root):
        stamp.append((folder, os.stat(folder).st_mtime_ns))
        for name in files:
            st = os.stat(os.path.join(folder, name))
            entries.append((os.path.relpath(os.path.join(folder, name), root), st.st_size, st.st_mtime_ns))
    return entries, tuple(stamp)


def data_identity(name: str, data_dir: str | None = None) -> dict:
    """``{"dataset", "root", "files", "bytes", "digest"}`` of the data that ``name`` is read from with
    ``data_dir`` (see the module docstring); ``digest``: 16 hex digits. ``root``: the absolute folder
    the files were found in (informative; not part of the digest)."""
    small = check_name(name).small
    if small:
        files = [f for split in SPLITS for f in locate(name, split, data_dir)]
        root = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
        entries = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    else:
        root = folder_root(name, data_dir).resolve()
        key = (name, str(root))
        _, stamp = _folder_entries_stamp(root)
        memo = _FOLDER_MEMO.get(key)
        if memo is not None and memo["stamp"] == stamp:
            return dict(memo["identity"])
        entries, stamp = _folder_entries(root)
    identity = {"dataset": name, "root": str(root), "files": len(entries),
                "bytes": sum(size for _, size, _ in entries), "digest": _digest(entries)}
    if not small:
        _FOLDER_MEMO[(name, str(root))] = {"stamp": stamp, "identity": dict(identity)}
    return identity


def _folder_entries_stamp(root: Path) -> tuple[None, tuple]:
    """The folders' stamp only (one ``stat`` per folder): the memo's key."""
    return None, tuple((folder, os.stat(folder).st_mtime_ns) for folder, _ in _split_folders(root))
