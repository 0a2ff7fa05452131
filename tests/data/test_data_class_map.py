import pytest

from simstudio.data.class_map import (
    apply_class_map,
    check_class_map,
    load_class_map,
    mapped_counts,
    parse_class_map,
)

COUNTS = {"MEL": 5, "NV": 20, "BKL": 4, "UNK": 2}


def test_text_map_with_rest_and_drop():
    m = parse_class_map("malignant: MEL   # melanoma only\nbenign: *\ndrop: UNK\n")
    assert apply_class_map(["MEL", "nv", "BKL", "UNK"], m) == ["malignant", "benign", "benign", None]
    assert mapped_counts(COUNTS, m) == {"benign": 24, "malignant": 5}


def test_without_rest_unnamed_classes_are_dropped():
    m = parse_class_map("malignant: MEL\nbenign: NV, BKL")
    assert mapped_counts(COUNTS, m) == {"benign": 24, "malignant": 5}
    assert apply_class_map(["UNK"], m) == [None]


def test_json_and_csv_forms_agree():
    text = parse_class_map("malignant: MEL\nbenign: NV + BKL")
    assert parse_class_map('{"malignant": ["MEL"], "benign": ["NV", "BKL"]}') == text
    assert parse_class_map('{"MEL": "malignant", "NV": "benign", "BKL": "benign"}') == text
    assert parse_class_map("source,target\nMEL,malignant\nNV,benign\nBKL,benign") == text


def test_map_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="both 'a' and 'b'"):
        parse_class_map("a: MEL\nb: MEL")
    with pytest.raises(ValueError, match="line 1"):
        parse_class_map("just words")
    with pytest.raises(ValueError, match="does not have"):
        check_class_map(COUNTS, parse_class_map("malignant: MEL, SCC"))
    with pytest.raises(ValueError, match="drops every image"):
        check_class_map(COUNTS, parse_class_map("drop: *"))
    with pytest.raises(FileNotFoundError, match="class-map file"):
        load_class_map("missing.json")
    f = tmp_path / "map.txt"
    f.write_text("malignant: MEL\n")
    assert load_class_map(str(f)) == {"mel": "malignant"}
    assert apply_class_map(["x"], {}) == ["x"]
