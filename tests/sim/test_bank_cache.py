"""The texture bank's disk copy: the same arrays as a build, a new copy when the building module changes,
a rebuild when the copy is damaged."""

import importlib.util
import sys

import numpy as np

from simstudio.sim import textures

BUILDER = '''
import numpy as np
from simstudio.sim.bank_cache import disk_cached
BUILDS = []

@disk_cached
def bank():
    BUILDS.append(1)
    flat = np.arange({n}, dtype=np.float32)
    flat.setflags(write=False)
    return flat, np.array([0, 4], np.int64)
'''


def _load(path, n):
    path.write_text(BUILDER.format(n=n))
    spec = importlib.util.spec_from_file_location("builder", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_second_process_maps_the_copy_instead_of_building(tmp_path):
    first = _load(tmp_path / "tex.py", 10)
    flat, offsets = first.bank()
    assert first.BUILDS == [1]
    again = _load(tmp_path / "tex.py", 10)  # as a fresh process would import it
    flat2, offsets2 = again.bank()
    assert again.BUILDS == [] and np.array_equal(flat, flat2) and np.array_equal(offsets, offsets2)
    assert flat2.dtype == np.float32 and not flat2.flags.writeable and type(flat2) is np.ndarray


def test_an_edited_builder_gets_a_new_copy_and_a_damaged_copy_is_rebuilt(tmp_path):
    _load(tmp_path / "tex.py", 10).bank()
    edited = _load(tmp_path / "tex.py", 12)
    assert len(edited.bank()[0]) == 12 and edited.BUILDS == [1]
    copies = sorted((tmp_path / "__pycache__").glob("*.npy"))
    assert len(copies) == 2  # flat and offsets of the edited builder only: the old copy is gone
    flat_copy = next(p for p in copies if p.name.endswith(".flat.npy"))
    flat_copy.write_bytes(flat_copy.read_bytes()[:40])
    damaged = _load(tmp_path / "tex.py", 12)
    assert len(damaged.bank()[0]) == 12 and damaged.BUILDS == [1]


def test_the_renderers_bank_from_disk_equals_a_fresh_build():
    flat, offsets = textures.bank()
    built, built_offsets = textures.bank.__wrapped__.__wrapped__()
    assert np.array_equal(flat, built) and np.array_equal(offsets, built_offsets)
