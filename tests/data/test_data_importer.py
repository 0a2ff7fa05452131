import zipfile

import numpy as np
import pytest
from tiny_images import image_bytes, write_folder

from simstudio.cli import main
from simstudio.data.dataset import dataset_runs, load_dataset, read_items
from simstudio.data.importer import ImportConfig, import_dataset
from simstudio.data.preprocess import Preprocessing
from simstudio.data.splits import load_split
from simstudio.jobs import run_in_foreground


def _messy_folder(root):
    write_folder(root, {"benign": 8, "malignant": 6}, fmt="JPEG")
    (root / "SOURCE.md").write_text("# provenance")
    (root / "benign" / "Thumbs.db").write_bytes(b"\0")
    (root / "benign" / "copy.jpg").write_bytes((root / "benign" / "benign_0.jpg").read_bytes())
    (root / "benign" / "gray.png").write_bytes(image_bytes(90, mode="L"))
    (root / "malignant" / "rgba.png").write_bytes(image_bytes(91, mode="RGBA"))
    jpeg = image_bytes(92, fmt="JPEG")
    (root / "malignant" / "cut.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    return root


def test_import_folder_reports_skips_duplicates_and_saves_a_split(tmp_path):
    root = _messy_folder(tmp_path / "messy")
    config = ImportConfig(source=str(root), preprocessing=Preprocessing(size=16), split="80/20", seed=1)
    run, result = run_in_foreground("dataset", import_dataset, config, echo=False)
    assert run.status == "finished" and run.kind == "dataset"
    assert result["dataset_id"] == run.id
    assert result["counts"] == {"benign": 10, "malignant": 7}
    assert result["n_skipped"] == 1 and result["skipped"][0][0] == "malignant/cut.jpg"
    assert "truncated" in result["skipped"][0][1]
    assert set(result["ignored"]) == {"SOURCE.md", "benign/Thumbs.db"}
    assert result["duplicates"] == [["benign/benign_0.jpg", "benign/copy.jpg"]]
    # The dataset is in the store, loads by id, and its duplicates share a split part.
    ds = load_dataset(run.id)
    assert ds.id == run.id and len(ds) == 17 and ds.images.shape == (17, 16, 16, 3)
    split = load_split(run.path / "split.csv")
    part = dict(zip(split.files, split.parts, strict=True))
    assert part["benign/benign_0.jpg"] == part["benign/copy.jpg"]
    assert ds.saved_split() == split
    assert [r.id for r in dataset_runs()] == [run.id]
    items = read_items(run.path)
    assert {r["file"]: (r["width"], r["height"]) for r in items}["benign/gray.png"] == ("32", "32")
    # Reloading at another size re-caches from the source, same rows.
    small = load_dataset(run.id, size=8)
    assert small.files == ds.files and small.images.shape == (17, 8, 8, 3)


def test_import_csv_with_class_map_counts_before_and_after(tmp_path):
    (tmp_path / "imgs").mkdir()
    rows = []
    for i, dx in enumerate(["mel", "mel", "nv", "nv", "nv", "bkl", "df", "mel", "nv", "bkl"]):
        (tmp_path / "imgs" / f"ISIC_{i:07d}.jpg").write_bytes(image_bytes(i, fmt="JPEG"))
        rows.append(f"HAM_{i // 2:07d},ISIC_{i:07d},{dx},histo,50,male,back")
    csv = tmp_path / "HAM10000_metadata.csv"
    csv.write_text("lesion_id,image_id,dx,dx_type,age,sex,localization\n" + "\n".join(rows) + "\n")
    config = ImportConfig(source=str(tmp_path), csv=str(csv), class_map="malignant: mel\nbenign: nv, bkl\n",
                          preprocessing=Preprocessing(size=16), split="kfold:2")
    run, result = run_in_foreground("dataset", import_dataset, config, echo=False)
    assert result["counts_before_map"] == {"bkl": 2, "df": 1, "mel": 3, "nv": 4}
    assert result["counts_after_map"] == {"benign": 6, "malignant": 3}
    assert result["dropped_by_map"] == {"df": 1}
    ds = load_dataset(run.id)
    assert ds.groups is not None and set(ds.groups) <= {f"HAM_{i:07d}" for i in range(5)}
    split = ds.saved_split()
    fold_of_group = {}
    for g, f in zip(ds.groups, split.folds, strict=True):
        assert fold_of_group.setdefault(g, f) == f  # a lesion never straddles folds


def test_import_zip_upload_extracts_into_the_run(tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(4):
            zf.writestr(f"mydata/nevus/{i}.png", image_bytes(i))
            zf.writestr(f"mydata/melanoma/{i}.png", image_bytes(10 + i))
        zf.writestr("mydata/README.txt", "hello")
    config = ImportConfig(source=str(z), preprocessing=Preprocessing(size=16), split="50/50")
    run, result = run_in_foreground("dataset", import_dataset, config, echo=False)
    assert result["counts"] == {"melanoma": 4, "nevus": 4} and result["ignored"] == ["README.txt"]
    assert (run.path / "source" / "mydata" / "nevus" / "0.png").is_file()
    assert load_dataset(run.path).root == run.path / "source" / "mydata"


def test_a_failed_import_is_recorded_with_its_reason(tmp_path):
    root = tmp_path / "bad"
    write_folder(root, {"a": 2, "b": 0})
    (root / "b" / "x.jpg").write_bytes(b"\xff\xd8\xff garbage")
    config = ImportConfig(source=str(root), preprocessing=Preprocessing(size=16))
    run, result = run_in_foreground("dataset", import_dataset, config, echo=False)
    assert result is None and run.status == "failed"
    assert "class(es) b have no readable image" in run.error
    with pytest.raises(ValueError, match="not a finished import"):
        load_dataset(run.id)


def test_cli_import_prints_summary_and_id_and_exits_2_on_bad_input(tmp_path, capsys):
    root = tmp_path / "real"
    write_folder(root, {"benign": 6, "malignant": 4}, fmt="JPEG")
    assert main(["import", str(root), "--size", "16", "--split", "80/10/10", "--seed", "2",
                 "--bilateral", "5,20,20", "--gamma", "1.5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    dataset_id = out[-1]
    assert dataset_id.startswith("dataset-") and "counts: benign 6, malignant 4" in "\n".join(out)
    ds = load_dataset(dataset_id)
    assert ds.preprocessing.gamma == 1.5 and ds.preprocessing.bilateral_d == 5
    assert np.isin(ds.saved_split().parts, ["train", "val", "test"]).all()

    assert main(["import", str(tmp_path / "nope"), "--size", "16"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["import", str(root), "--split", "70/20"]) == 2
    assert "add up to 100" in capsys.readouterr().err
    empty_csv = tmp_path / "gt.csv"
    empty_csv.write_text("image_name,target\nISIC_404,1\n")
    assert main(["import", str(root), "--csv", str(empty_csv), "--size", "16"]) == 2
    assert "none of the 1 ids in gt.csv match an image file" in capsys.readouterr().err
