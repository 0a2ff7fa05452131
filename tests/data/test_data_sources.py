import pytest
from tiny_images import image_bytes, write_folder

from simstudio.data.sources import detect_csv_kind, scan_csv, scan_image_folder, scan_source


def test_image_folder_ignores_non_images_and_reports_loose_images(tmp_path):
    root = tmp_path / "real"
    write_folder(root, {"benign": 3, "malignant": 2})
    (root / "SOURCE.md").write_text("# where these came from")
    (root / "manifest.csv").write_text("file,label\n")
    (root / ".DS_Store").write_bytes(b"\0\0")
    (root / "benign" / "notes.txt").write_text("x")
    (root / "loose.png").write_bytes(image_bytes(9))
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._x.png").write_bytes(b"junk")
    scan = scan_image_folder(root)
    assert scan.kind == "imagefolder"
    assert scan.counts == {"benign": 3, "malignant": 2}
    assert {"SOURCE.md", "manifest.csv", "benign/notes.txt", ".DS_Store"} <= set(scan.ignored)
    assert scan.skipped == [("loose.png", "image outside any class folder")]


def test_empty_class_folder_is_a_clear_error(tmp_path):
    root = tmp_path / "real"
    write_folder(root, {"benign": 2})
    (root / "melanoma").mkdir()
    (root / "melanoma" / "README.txt").write_text("todo")
    with pytest.raises(ValueError, match="'melanoma'.*holds no images"):
        scan_image_folder(root)


def test_kaggle_train_test_layout_and_a_wrapping_folder(tmp_path):
    root = tmp_path / "upload" / "skin-cancer"  # as a zip of a named folder extracts
    write_folder(root / "train", {"benign": 3, "malignant": 2})
    write_folder(root / "test", {"benign": 1, "malignant": 1}, start=50)
    scan = scan_image_folder(tmp_path / "upload")
    assert scan.kind == "kaggle" and scan.root == root
    assert scan.counts == {"benign": 4, "malignant": 3}
    assert {it.part for it in scan.items} == {"train", "test"}
    assert all(it.file.startswith(("train/", "test/")) for it in scan.items)


def test_manifest_groups_are_attached(tmp_path):
    root = tmp_path / "sim"
    files = write_folder(root, {"a": 2, "b": 2})
    (root / "manifest.csv").write_text("file,class,near_dup_group\n" + "".join(
        f"{f},{f.split('/')[0]},{i // 2}\n" for i, f in enumerate(files)))
    scan = scan_image_folder(root)
    groups = {it.file: it.group for it in scan.items}
    assert groups[files[0]] == groups[files[1]] != groups[files[2]]


def _images(root, ids, ext="jpg", sub="images"):
    (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(ids):
        (root / sub / f"{name}.{ext}").write_bytes(image_bytes(i, fmt="JPEG" if ext == "jpg" else "PNG"))


def test_isic_2017_ground_truth(tmp_path):
    _images(tmp_path, ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002"])
    csv = tmp_path / "ISIC-2017_Training_Part3_GroundTruth.csv"
    csv.write_text("image_id,melanoma,seborrheic_keratosis\n"
                   "ISIC_0000000,0.0,0.0\nISIC_0000001,1.0,0.0\nISIC_0000002,0.0,1.0\n")
    scan = scan_source(csv)
    assert scan.kind == "isic2017"
    assert {it.file: it.label for it in scan.items} == {
        "images/ISIC_0000000.jpg": "nevus", "images/ISIC_0000001.jpg": "melanoma",
        "images/ISIC_0000002.jpg": "seborrheic_keratosis"}


def test_isic_2019_one_hot_with_an_unmarked_row(tmp_path):
    _images(tmp_path, ["ISIC_0000000", "ISIC_0000001_downsampled", "ISIC_0000002"], ext="png")
    csv = tmp_path / "gt.csv"
    csv.write_text("image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\n"
                   "ISIC_0000000,0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n"
                   "ISIC_0000001_downsampled,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n"
                   "ISIC_0000002,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n")
    scan = scan_source(tmp_path, csv_file=csv)
    assert scan.kind == "isic2019"
    assert sorted(it.label for it in scan.items) == ["MEL", "NV"]
    assert scan.skipped == [("ISIC_0000002", "no class marked in the CSV")]


def test_isic_2020_targets_and_groups(tmp_path):
    _images(tmp_path, ["ISIC_1", "ISIC_2", "ISIC_3"], sub="train")
    csv = tmp_path / "train.csv"
    csv.write_text("image_name,patient_id,sex,diagnosis,benign_malignant,target\n"
                   "ISIC_1,IP_1,male,nevus,benign,0\nISIC_2,IP_1,male,melanoma,malignant,1\n"
                   "ISIC_3,IP_2,female,unknown,benign,0\nISIC_404,IP_3,female,nevus,benign,0\n")
    scan = scan_source(csv)
    assert scan.kind == "isic2020"
    assert scan.counts == {"benign": 2, "malignant": 1}
    assert {it.group for it in scan.items} == {"IP_1", "IP_2"}
    assert scan.skipped == [("ISIC_404", "listed in the CSV, no image file found")]


def test_ham10000_metadata_gives_lesion_groups(tmp_path):
    _images(tmp_path, ["ISIC_0027419", "ISIC_0025030", "ISIC_0026769"], sub="HAM10000_images_part_1")
    csv = tmp_path / "HAM10000_metadata.csv"
    csv.write_text("lesion_id,image_id,dx,dx_type,age,sex,localization\n"
                   "HAM_0000118,ISIC_0027419,bkl,histo,80.0,male,scalp\n"
                   "HAM_0000118,ISIC_0025030,bkl,histo,80.0,male,scalp\n"
                   "HAM_0002730,ISIC_0026769,mel,histo,80.0,male,scalp\n")
    scan = scan_source(csv)
    assert scan.kind == "ham10000" and scan.counts == {"bkl": 2, "mel": 1}
    assert [it.group for it in scan.items] == ["HAM_0000118", "HAM_0000118", "HAM_0002730"]


def test_csv_matching_no_file_and_unknown_columns_are_clear_errors(tmp_path):
    _images(tmp_path, ["a", "b"])
    csv = tmp_path / "gt.csv"
    csv.write_text("image_id,dx,lesion_id\nISIC_9,mel,L1\nISIC_8,nv,L2\n")
    with pytest.raises(ValueError, match="none of the 2 ids in gt.csv match an image file"):
        scan_csv(csv, tmp_path)
    with pytest.raises(ValueError, match="unrecognised CSV columns"):
        detect_csv_kind(["name", "score"])
    assert detect_csv_kind(["File", "Class"]) == "csv"


def test_links_out_of_the_allowed_roots_are_skipped(tmp_path):
    inside, outside = tmp_path / "allowed", tmp_path / "secret"
    write_folder(inside, {"benign": 2})
    outside.mkdir()
    (outside / "id_rsa.png").write_bytes(image_bytes(5))
    (inside / "benign" / "leak.png").symlink_to(outside / "id_rsa.png")
    scan = scan_source(inside, allowed_roots=[inside])
    assert [f for f, _ in scan.skipped] == ["benign/leak.png"]
    assert "outside the allowed folders" in scan.skipped[0][1]
    assert len(scan.items) == 2


def test_a_folder_holding_a_ham10000_csv_and_image_folders_is_read_through_the_csv(tmp_path):
    wrap = tmp_path / "upload" / "HAM10000"
    _images(wrap, ["ISIC_1", "ISIC_2"], sub="HAM10000_images_part_1")
    _images(wrap, ["ISIC_3"], sub="HAM10000_images_part_2")
    (wrap / "HAM10000_metadata.csv").write_text(
        "lesion_id,image_id,dx\nL1,ISIC_1,nv\nL2,ISIC_2,mel\nL2,ISIC_3,mel\n")
    scan = scan_source(tmp_path / "upload")
    assert scan.kind == "ham10000" and scan.counts == {"mel": 2, "nv": 1}


def test_isic_2018_masks_beside_their_images_are_not_read_as_images(tmp_path):
    # A simulator export with masks (and ISIC 2018's Task 1/2 ground truth) names each mask after its image.
    write_folder(tmp_path, {"benign": 2, "malignant": 1})
    for rel in ("benign/benign_0", "malignant/malignant_0"):
        (tmp_path / f"{rel}_segmentation.png").write_bytes(image_bytes(90))
        (tmp_path / f"{rel}_attribute_pigment_network.png").write_bytes(image_bytes(91))
        (tmp_path / f"{rel}_attribute_hair.png").write_bytes(image_bytes(92))
    # A photo whose name only looks like a mask (no image of that id beside it) is still a photo.
    (tmp_path / "benign" / "mole_segmentation.png").write_bytes(image_bytes(93))
    scan = scan_image_folder(tmp_path)
    assert sorted(it.file for it in scan.items) == [
        "benign/benign_0.png", "benign/benign_1.png", "benign/mole_segmentation.png", "malignant/malignant_0.png"]
    assert "benign/benign_0_attribute_hair.png" in scan.ignored
    assert "malignant/malignant_0_segmentation.png" in scan.ignored
