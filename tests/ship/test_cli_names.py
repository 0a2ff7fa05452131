"""One flag name per idea across the CLI: --size for the image side, --real for the real dataset, --out on
every command that writes a run. The old spellings still work and print one deprecation line."""

import pytest

from simstudio.cli import build_parser, main


def _parse(argv, capsys):
    args = build_parser().parse_args(argv)
    return args, capsys.readouterr().err


def test_train_classifier_size_new_and_old(capsys):
    from simstudio.commands.train_classifier import _config_from_args

    new, err = _parse(["train-classifier", "--real", "d", "--size", "48"], capsys)
    assert err == "" and _config_from_args(new).image_size == 48
    old, err = _parse(["train-classifier", "--real", "d", "--image-size", "48"], capsys)
    assert err.strip() == "warning: --image-size is deprecated; use --size"
    assert _config_from_args(old).image_size == 48


def test_train_classifier_select_last_keeps_the_last_epoch(capsys):
    from simstudio.commands.train_classifier import _config_from_args

    args, _ = _parse(["train-classifier", "--real", "d", "--select", "last"], capsys)
    assert _config_from_args(args).select_best is False
    args, _ = _parse(["train-classifier", "--real", "d"], capsys)
    assert _config_from_args(args).select_best is True


def test_train_gan_real_and_size_new_and_old(capsys):
    new, err = _parse(["train-gan", "--real", "d", "--size", "32", "--out", "store"], capsys)
    assert err == "" and (new.dataset, new.image_size, new.out) == ("d", 32, "store")
    old, err = _parse(["train-gan", "--dataset", "d", "--image-size", "32"], capsys)
    assert err.strip().splitlines() == ["warning: --dataset is deprecated; use --real",
                                        "warning: --image-size is deprecated; use --size"]
    assert (old.dataset, old.image_size) == ("d", 32)


def test_old_spelling_reaches_the_same_check(capsys):
    """End to end: the old and the new flag refuse the same bad size with the same one line, exit 2."""
    codes, errors = [], []
    for flag in ("--size", "--image-size"):
        codes.append(main(["train-classifier", "--real", "d", "--model", "hescnet", flag, "32"]))
        errors.append([ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")])
    assert codes == [2, 2] and errors[0] == errors[1] and len(errors[0]) == 1
    assert "hescnet takes exactly 64x64" in errors[0][0]


@pytest.mark.parametrize("argv", [
    ["import", "src", "--out", "store"],
    ["train-classifier", "--real", "d", "--out", "store"],
    ["train-gan", "--real", "d", "--out", "store"],
    ["gap", "a", "b", "--out", "store"],
    ["counterfactual", "c", "asymmetry", "--out", "store"],
    ["simulate", "--per-class", "1", "--out", "store"],
    ["generate", "g", "--out", "store"],
    ["fit-simulator", "d", "--out", "store"],
    ["experiment", "x", "--out", "store"],
    ["publish-model", "r", "--name", "n", "--out", "store"],
])
def test_every_command_that_writes_takes_out(argv, capsys):
    args, err = _parse(argv, capsys)
    assert args.out == "store" and err == ""


def test_size_is_the_image_side_flag_everywhere():
    """No command but the deprecated aliases still spells the image side --image-size."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        visible = {s for a in p._actions if a.help != "==SUPPRESS==" for s in a.option_strings}
        assert "--image-size" not in visible, name
        assert "--dataset" not in visible, name
