"""Fixtures: tiny real and synthetic image folders (see experiment_data.py)."""

import pytest
from experiment_data import write_folder


@pytest.fixture
def real_dir(tmp_path):
    return write_folder(tmp_path / "real", 30, seed=1, prefix="real")


@pytest.fixture
def synthetic_dir(tmp_path):
    return write_folder(tmp_path / "sim", 30, seed=2, prefix="sim")
