"""A disk copy of the texture bank, so a fresh process maps it instead of building it again.

Building the bank (FFT-filtered noise, Voronoi meshes, dots at five pyramid levels) costs ~0.75 s and a
~70 MB peak of temporaries in every process that renders: most of a fresh process's first-image cost. The
copy is keyed by what decides its bytes (the source of every module in the builder's folder, numpy's and
numba's versions), so an edited texture gets a new copy and never a stale one. It lies beside numba's kernel cache
(`__pycache__` next to the module) and is memory-mapped read-only: a process keeps resident only the
pages its kernels read, and processes share them. Where that folder cannot be written, the bank is built
in memory as before; the arrays are the same either way.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from pathlib import Path

import numba
import numpy as np


def disk_cached(build):
    """Decorate `build() -> (flat, offsets)` so its result comes from the disk copy when one exists."""

    @functools.wraps(build)
    def load() -> tuple[np.ndarray, np.ndarray]:
        folder = Path(inspect.getsourcefile(build)).parent / "__pycache__"
        stem = folder / f"{build.__module__.rsplit('.', 1)[-1]}.{build.__name__}-{_key(build)}"
        flat_path, offsets_path = Path(f"{stem}.flat.npy"), Path(f"{stem}.offsets.npy")
        try:
            # offsets are written last, so both files are complete when they are there
            offsets = np.load(offsets_path)
            flat = np.load(flat_path, mmap_mode="r").view(np.ndarray)
            if flat.dtype == np.float32 and offsets.dtype == np.int64 and offsets[-1] < flat.size:
                offsets.setflags(write=False)
                return flat, offsets
        except (OSError, ValueError):
            pass
        flat, offsets = build()
        try:
            folder.mkdir(exist_ok=True)
            for stale in folder.glob(f"{stem.name.rsplit('-', 1)[0]}-*.npy"):  # copies of edited textures
                if not stale.name.startswith(stem.name):
                    stale.unlink(missing_ok=True)
            for path, array in ((flat_path, flat), (offsets_path, offsets)):
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as fh:
                    np.save(fh, array)
                os.replace(tmp, path)
        except OSError:  # a read-only install: the bank stays in memory only
            pass
        return flat, offsets

    return load


def _key(build) -> str:
    # Every module beside the builder, not only its own: a helper it imports from there changes the bytes too.
    h = hashlib.sha256(f"{np.__version__}|{numba.__version__}".encode())
    for source in sorted(Path(inspect.getsourcefile(build)).parent.glob("*.py")):
        h.update(source.name.encode() + b"\0" + source.read_bytes())
    return h.hexdigest()[:16]
