"""Fixtures for the data tests: tiny datasets written on the fly (see tiny_images.py)."""

import pytest
from tiny_images import write_folder


@pytest.fixture
def make_folder(tmp_path):
    """make_folder({"benign": 6, "malignant": 4}, fmt="PNG") -> the folder."""
    counter = [0]

    def make(counts, fmt="PNG", name=None):
        counter[0] += 1
        root = tmp_path / (name or f"set{counter[0]}")
        write_folder(root, counts, fmt, start=counter[0] * 1000)
        return root

    return make
