import numpy as np
import pytest
from tiny_images import image_bytes, write_folder

from simstudio.data import cache as cache_mod
from simstudio.data.cache import build_cache
from simstudio.data.dataset import load_dataset
from simstudio.data.images import read_image
from simstudio.data.preprocess import Preprocessing, preprocess_image
from simstudio.jobs import JobContext


def test_folder_cache_round_trip_equals_a_fresh_decode(make_folder, run_store):
    root = make_folder({"benign": 4, "malignant": 3}, fmt="JPEG")
    pre = Preprocessing(size=24, fit="crop", gamma=1.5, bilateral=True)
    ds = load_dataset(root, preprocessing=pre)
    assert ds.id == "" and ds.classes == ["benign", "malignant"] and ds.size == 24
    assert isinstance(ds.images, np.memmap) and ds.images.shape == (7, 24, 24, 3)
    assert ds.labels.tolist() == [0, 0, 0, 0, 1, 1, 1] and ds.groups is None
    for i, rel in enumerate(ds.files):
        fresh = preprocess_image(read_image(root / rel, min_side=24), pre)
        assert np.array_equal(ds.images[i], fresh)
    assert str(ds.images.filename).startswith(str(run_store / ".cache"))


def test_second_load_reuses_the_cache_and_changes_make_a_new_one(make_folder):
    root = make_folder({"a": 3, "b": 3})
    first = load_dataset(root, size=16)
    again = load_dataset(root, size=16)
    assert again.images.filename == first.images.filename
    assert load_dataset(root, size=20).images.filename != first.images.filename
    (root / "a" / "extra.png").write_bytes(image_bytes(77))
    grown = load_dataset(root, size=16)
    assert grown.images.filename != first.images.filename and len(grown) == 7


def test_native_size_is_the_default_and_subset_keeps_rows(make_folder):
    ds = load_dataset(make_folder({"a": 3, "b": 2}))
    assert ds.size == 32
    sub = ds.subset(np.array([4, 0]))
    assert sub.files == [ds.files[4], ds.files[0]] and sub.labels.tolist() == [1, 0]
    assert np.array_equal(sub.images[0], ds.images[4])
    assert ds.subset(ds.labels == 1).files == ds.files[3:]
    assert ds.class_counts() == {"a": 3, "b": 2}


def test_corrupt_files_are_skipped_with_reasons(make_folder):
    root = make_folder({"a": 3, "b": 2})
    good = image_bytes(5, fmt="JPEG")
    (root / "a" / "cut.jpg").write_bytes(good[: len(good) // 2])
    (root / "b" / "fake.png").write_bytes(b"this is not a png")
    ds = load_dataset(root)
    assert len(ds) == 5
    reasons = dict(ds.skipped)
    assert "truncated JPEG" in reasons["a/cut.jpg"] and "not an image" in reasons["b/fake.png"]


def test_missing_or_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset run or image folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no dataset run or image folder 'dataset-123'"):
        load_dataset("dataset-123")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class folders"):
        load_dataset(tmp_path / "empty")
    write_folder(tmp_path / "broken", {"a": 0})
    (tmp_path / "broken" / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of the 1 images .* could be decoded"):
        load_dataset(tmp_path / "broken")


def test_process_pool_path_matches_the_in_process_path(make_folder, tmp_path, monkeypatch):
    root = make_folder({"a": 5, "b": 4}, fmt="JPEG")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    pre = Preprocessing(size=16, hair_removal=True)
    inline = build_cache(root, files, pre, tmp_path / "c1", workers=1)
    monkeypatch.setattr(cache_mod, "POOL_MIN_IMAGES", 0)
    monkeypatch.setattr(cache_mod, "CHUNK", 3)
    ctx = JobContext.local()
    pooled = build_cache(root, files, pre, tmp_path / "c2", ctx=ctx, workers=2)
    assert pooled.files == inline.files and pooled.hashes == inline.hashes
    assert np.array_equal(pooled.images(), inline.images())
    assert ctx.latest["progress"]["done"] == 9


def test_a_cancelled_build_leaves_no_entry_and_concurrent_loads_agree(make_folder, tmp_path):
    import threading

    from simstudio.jobs import Cancelled

    root = make_folder({"a": 4, "b": 4})
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    ctx = JobContext.local()
    ctx.cancel_event.set()
    with pytest.raises(Cancelled):
        build_cache(root, files, Preprocessing(size=16), tmp_path / "c", ctx=ctx, workers=1)
    assert list(tmp_path.glob("c*")) == [] and list(tmp_path.glob(".building-*")) == []

    results = []
    threads = [threading.Thread(target=lambda: results.append(load_dataset(root, size=16))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len({r.images.filename for r in results}) == 1
    assert all(np.array_equal(r.images, results[0].images) for r in results)
