"""Config values from YAML recipes and flags: each wrong one is refused at its file and line, or its flag."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctxlearn.compare.run import CompareConfig
from ctxlearn.config import (TrainConfig, fits, from_dict, key_lines, kind, load_yaml_node, read_recipe, save_yaml,
                             to_dict)
from ctxlearn.errors import ConfigError
from ctxlearn.icl.config import icl_config
from ctxlearn.methods.lora import LoraOptions


@pytest.mark.parametrize("line, message", [
    ("head_init: zero", "head_init must be one of auto, prior, random, probe, not 'zero'"),
    ("head_init: Probe", "head_init must be one of auto, prior, random, probe, not 'Probe' (did you mean 'probe'?)"),
    ("batch_size: abc", "batch_size must be a whole number, not 'abc'"),
    ("batch_size: 0", "batch_size must be >= 1, not 0"),
    ("epochs: '3'", "epochs must be a number, not '3'"),
    ("resume: 1", "resume must be true or false, not 1"),
    ("bf16: on", "bf16 must be text (auto, on, off), not True; YAML reads yes, no, on and off as true or false, "
                 "so quote the word, e.g. 'on'"),
    ("max_length: true", "max_length must be a whole number, not True"),
    ("label_smoothing: 1.5", "label_smoothing must be in [0, 1), e.g. 0.1, not 1.5"),
    # these ran into a traceback from torch (lr, seed) or trained without complaint (warmup, max_train)
    ("lr: -0.001", "lr must be >= 0, not -0.001"),
    ("warmup_ratio: 1.5", "warmup_ratio must be in [0, 1), e.g. 0.1, not 1.5"),
    ("max_train: -3", "max_train must be >= 0, not -3"),
    ("estimate_steps: -1", "estimate_steps must be >= 0, not -1"),  # a traceback from torch's sampler
    ("threads: -2", "threads must be >= 0, not -2"),
    ("method_options: [lora]", "method_options must be a mapping of text to a mapping, not ['lora']"),
    ("epoch: 3", "unknown field 'epoch' (did you mean 'epochs'?); fields are: batch_size, bf16,"),
    ("method: lorra", "unknown method 'lorra' (did you mean 'lora'?); choose one of: full, head,"),
    ("method: bitfit", "unknown method 'bitfit'; choose one of: full, head,"),
])
def test_a_wrong_recipe_value_is_refused_at_its_line(tmp_path: Path, line: str, message: str) -> None:
    refusal = _refusal(tmp_path, f"# a recipe\nmodel: minilm\n\n{line}\nseed: 3\n")
    assert refusal.startswith(f"{tmp_path}/recipe.yaml:4: {message}")


def test_a_seed_numpy_and_torch_cannot_take_is_refused_at_its_line(tmp_path: Path) -> None:
    """torch's 'Seed must be between 0 and 2**32 - 1' came as a traceback once the model had loaded."""
    for seed in (-1, 2**32):
        refusal = _refusal(tmp_path, f"model: minilm\nseed: {seed}\n")
        assert refusal.startswith(f"{tmp_path}/recipe.yaml:2: seed must be in 0 .. 2**32 - 1 (numpy and torch take no "
                                  f"other), not {seed}")


def _refusal(folder: Path, text: str) -> str:
    """The error read_recipe gives for a train recipe of ``text``."""
    (folder / "recipe.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        read_recipe(TrainConfig, folder / "recipe.yaml")
    return str(err.value)


@pytest.mark.parametrize("options, message", [
    ("  lora:\n    alpha: 8\n    r: abc\n", "recipe.yaml:5: r must be a whole number, not 'abc'"),
    ("  ia3: {}\n  lora:\n    rank: 3\n", "recipe.yaml:5: unknown field 'rank'; fields are: alpha,"),
    ("  full: {}\n  lorra: {r: 2}\n",
     "recipe.yaml:4: method_options: 'lorra' is not a method (did you mean 'lora'?); methods are: full,"),
    ("  lora: 3\n", "recipe.yaml:3: method_options: lora must be a mapping of option: value, not 3"),
    # range checks of one option, which named no file and line, or a flag the recipe did not give
    ("  adapter:\n    size: 0\n", "recipe.yaml:4: size must be >= 1, not 0"),
    ("  full:\n    layer_decay: 2.0\n", "recipe.yaml:4: layer_decay must be a factor in (0, 1]"),
    ("  adalora:\n    init_r: 8\n    target_r: 8\n", "recipe.yaml:5: target_r must be at least 1 and below init_r (8)"),
    ("  prompt: {init: zeros}\n", "recipe.yaml:3: init must be sample_vocab or random, not 'zeros'"),
    ("  head:\n    c_grid: 1,b\n", "recipe.yaml:4: c_grid '1,b': give comma-separated numbers above 0"),
])
def test_a_wrong_method_option_in_a_recipe_is_refused_at_its_line(tmp_path: Path, options: str, message: str) -> None:
    assert _refusal(tmp_path, f"method: lora\nmethod_options:\n{options}").startswith(f"{tmp_path}/{message}")


@pytest.mark.parametrize("line, options", [
    ("lora_r: 4", {"lora": {"r": 4}}),
    ("lora-targets: query,value", {"lora": {"targets": "query,value"}}),
    ("adalora_init_r: 12", {"adalora": {"init_r": 12}}),
    ("lora:\n  r: 4\n  alpha: 8", {"lora": {"alpha": 8, "r": 4}}),
])
def test_a_method_option_at_the_top_of_a_recipe_is_shown_where_it_goes(tmp_path: Path, line: str,
                                                                       options: dict) -> None:
    """`lora_r: 4` (as --lora-r reads) was 'unknown field', with no word of method_options; the line the
    refusal offers reads back as the option meant."""
    refusal = _refusal(tmp_path, f"method: lora\n{line}\n")
    key = line.split(":")[0]
    assert refusal.startswith(f"{tmp_path}/recipe.yaml:2: {key}: a method's options go under method_options")
    (tmp_path / "recipe.yaml").write_text("method: lora\n" + refusal.split("`")[1] + "\n")
    assert read_recipe(TrainConfig, tmp_path / "recipe.yaml")["method_options"] == options


def test_a_top_level_key_that_is_no_method_option_is_an_unknown_field(tmp_path: Path) -> None:
    assert "unknown field 'lora_rank'" in _refusal(tmp_path, "method: lora\nlora_rank: 4\n")
    assert "unknown field 'full'" in _refusal(tmp_path, "method: lora\nfull: 3\n")  # a method, not a mapping


def test_a_good_recipe_reads_back_as_written(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("method: lora\nepochs: 2\nlr: 0.001\ntext_pair_field: null\nmethod_options: {lora: {r: 4}}\n")
    assert read_recipe(TrainConfig, recipe) == {"method": "lora", "epochs": 2, "lr": 0.001, "text_pair_field": None,
                                                "method_options": {"lora": {"r": 4}}}
    node = load_yaml_node(recipe)[1]
    assert key_lines(node) == {"method": 1, "epochs": 2, "lr": 3, "text_pair_field": 4, "method_options": 5}
    assert key_lines(node, "method_options") == {"lora": 5}
    assert key_lines(node, "method_options", "lora") == {"r": 5} and key_lines(node, "epochs") == {}


def test_numbers_in_e_notation_without_a_dot_read_as_numbers(tmp_path: Path) -> None:
    """`lr: 2e-3`, as the README writes learning rates, was refused: "lr must be a number, not '2e-3'"."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("lr: 2e-3\nweight_decay: 1E-2\nwarmup_ratio: 6.0e-2\nmethod: '2e-3'\n")
    assert load_yaml_node(recipe)[0] == {"lr": 0.002, "weight_decay": 0.01, "warmup_ratio": 0.06,
                                         "method": "2e-3"}  # quoted: text
    recipe.write_text("lr: 2e-3\nweight_decay: 1E-2\n")
    assert read_recipe(TrainConfig, recipe) == {"lr": 0.002, "weight_decay": 0.01}


@pytest.mark.parametrize("text, line, first", [
    ("method: head\nmax_length: 64\nseed: 1\nmax_length: 32\n", 4, 2),
    ("method_options:\n  lora: {r: 4, r: 8}\n", 2, 2),
])
def test_a_key_given_twice_is_refused_at_its_second_line(tmp_path: Path, text: str, line: int, first: int) -> None:
    """YAML keeps the last of two, so the first was dropped without a word."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    with pytest.raises(ConfigError, match=rf"recipe.yaml:{line}: \w+ given twice \(also line {first}\); give it once"):
        read_recipe(TrainConfig, recipe)
    recipe.write_text("base: &b {r: 4}\nlora: {<<: *b, r: 8}\n")  # a merge key overridden: no repeat
    assert load_yaml_node(recipe)[0]["lora"] == {"r": 8}


def test_a_run_folders_saved_config_reads_back_as_a_recipe(tmp_path: Path) -> None:
    cfg = TrainConfig(data="train.csv", method="lora", text_pair_field=None, method_options={"lora": {"r": 4}})
    save_yaml(to_dict(cfg), tmp_path / "config.yaml")  # as train.run writes it
    assert from_dict(TrainConfig, read_recipe(TrainConfig, tmp_path / "config.yaml"), None) == cfg


def test_without_a_file_the_source_or_the_flag_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^--lora-r: r must be a whole number, not 'four'$"):
        from_dict(LoraOptions, {"r": "four"}, None, flag_prefix="lora_")
    with pytest.raises(ConfigError, match=r"^--warmup-ratio: warmup_ratio must be a number, not 'x'$"):
        from_dict(TrainConfig, {"warmup_ratio": "x"}, None)
    with pytest.raises(ConfigError, match=r"^opts: expected a mapping of field: value, not 3$"):
        from_dict(TrainConfig, 3, "opts")


def test_icl_recipe_values_are_refused_at_their_line_and_flags_by_name(tmp_path: Path) -> None:
    recipe = tmp_path / "icl.yaml"
    recipe.write_text("shots: 2\norder: backwards\n")
    with pytest.raises(ConfigError, match=f"^{recipe}:2: order must be one of"):
        icl_config({"data": "x.csv"}, str(recipe))
    recipe.write_text("shots: 2\n\nselect: nearest\n")
    with pytest.raises(ConfigError, match=f"^{recipe}:3: unknown demonstration selector 'nearest'"):
        icl_config({"data": "x.csv"}, str(recipe))
    recipe.write_text("shots: 2\n")
    with pytest.raises(ConfigError, match=r"^--limit: limit must be >= 0, not -1$"):
        icl_config({"data": "x.csv", "limit": -1}, str(recipe))  # the recipe is right; the flag is not
    assert icl_config({"data": "x.csv", "shots": 0}, str(recipe)).shots == 0
    with pytest.raises(ConfigError, match=r"^--seed: seed must be in 0 \.\. 2\*\*32 - 1"):
        icl_config({"data": "x.csv", "seed": 2**32}, str(recipe))


@pytest.mark.parametrize("hint, value, expected", [
    (float, 3, True), (float, True, False), (int, 3.0, False), (int, False, False), (bool, 1, False),
    (bool, False, True), (str, 3, False), (int | None, None, True), (int | None, "3", False),
    (dict[str, str], {"a": "b"}, True), (dict[str, str], ["a"], False), (list[str], ["a"], True),
])
def test_fits_takes_yaml_numbers_but_not_booleans_as_numbers(hint: object, value: object, expected: bool) -> None:
    assert fits(hint, value) is expected


def test_kind_names_a_type_in_words() -> None:
    assert kind(int | None) == "a whole number or null"
    assert kind(dict[str, str]) == "a mapping of text to text"
    assert kind(list[str]) == "a list of text"
    assert kind(float) == "a number"


@pytest.mark.parametrize("data, method, out", [
    ("builtin:trec", "lora", "runs/trec-lora"),
    ("../shared/data/sst2/", "full", "runs/sst2-full"),
    ("data/reviews.csv", "head", "runs/reviews-head"),
    ("glue/sst2/data", "lora", "runs/sst2-lora"),  # the Hub's layout: the data set's folder names it
    ("sst2/train.csv", "full", "runs/sst2-full"),
    ("sst2/train.jsonl.gz", "full", "runs/sst2-full"),
    ("reviews.csv.gz", "head", "runs/reviews-head"),
])
def test_a_run_given_no_out_is_named_by_its_data_and_method(data: str, method: str, out: str) -> None:
    assert TrainConfig(data=data, method=method).out == out
    assert TrainConfig(data=data, method=method, out="runs/mine").out == "runs/mine"
    assert icl_config({"data": data}, None).out == out.replace(method, "icl")
    assert CompareConfig(data=data).out == out.replace(method, "compare")


@pytest.mark.parametrize("settings, message", [
    (dict(folds=1), "folds 1: cross-validation needs at least 2 folds"),
    (dict(fold=2), "fold 2 without folds: give the number of folds too"),
    (dict(folds=5, fold=5), "fold 5: the 5 folds are numbered 0 to 4"),
    (dict(folds=-2), "folds must be >= 0, not -2"),
    (dict(folds=5, test_fraction=0.2), "test_fraction 0.2 and folds 5 both size the test split"),
])
def test_folds_that_name_no_test_fold_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(data="x.csv", **settings)
    assert TrainConfig(data="x.csv", folds=5, fold=4).fold == 4


def test_compare_runs_every_fold_and_refuses_one() -> None:
    from ctxlearn.compare.run import plan

    cells = plan(CompareConfig(data="x.csv", methods="head,lora", folds=3))  # one seed: the folds test every example
    assert [c.name for c in cells] == ["head-s0-f0", "lora-s0-f0", "head-s0-f1", "lora-s0-f1", "head-s0-f2",
                                       "lora-s0-f2"]
    assert cells[3].args == ["--seed", "0", "--fold", "1"]
    assert len(plan(CompareConfig(data="x.csv", methods="head", folds=3, seeds=2))) == 6
    with pytest.raises(ConfigError, match="compare: --fold 1 picks one test fold of a train run"):
        CompareConfig(data="x.csv", folds=3, fold=1)


def test_a_run_given_no_out_goes_on_with_an_interrupted_run_and_never_replaces_another(tmp_path: Path,
                                                                                        monkeypatch) -> None:
    from ctxlearn.config import free_run_folder, other_run_note

    monkeypatch.chdir(tmp_path)
    settings = to_dict(TrainConfig(data="toy.csv", method="head", out="runs/toy-head"))
    assert free_run_folder("runs/toy-head", settings) == "runs/toy-head"  # nothing there
    finished = tmp_path / "runs" / "toy-head"
    finished.mkdir(parents=True)
    (finished / "manifest.json").write_text("{}")
    save_yaml({**settings, "seed": 7}, finished / "config.yaml")
    assert free_run_folder("runs/toy-head", settings) == "runs/toy-head-2"  # another run's results: left alone
    save_yaml({**settings, "out": "elsewhere", "threads": 2, "resume": True}, finished / "config.yaml")
    assert free_run_folder("runs/toy-head", settings) == "runs/toy-head"  # the same settings: replaced
    (finished / "config.yaml").write_text(": not yaml [")
    assert free_run_folder("runs/toy-head", settings) == "runs/toy-head-2"  # unreadable: left alone too
    (tmp_path / "runs" / "toy-head-2.partial").mkdir()  # an interrupted run to go on with (--resume)
    (tmp_path / "runs" / "toy-head-2").mkdir()
    (tmp_path / "runs" / "toy-head-2" / "manifest.json").write_text("{}")
    assert free_run_folder("runs/toy-head", settings) == "runs/toy-head-2"
    assert TrainConfig(data="toy.csv", method="head", seed=3).out == "runs/toy-head-2"
    assert other_run_note("runs/toy-head-2", "runs/toy-head").startswith("runs/toy-head holds a run with other")
    assert other_run_note("runs/toy-head", "runs/toy-head") is None
    assert other_run_note("runs/mine", "runs/toy-head") is None


def test_an_icl_run_given_no_out_leaves_another_icl_run_as_it_is(tmp_path: Path, monkeypatch) -> None:
    from ctxlearn.icl.config import IclConfig

    monkeypatch.chdir(tmp_path)
    first = IclConfig(data="toy.csv")
    assert first.out == "runs/toy-icl"
    (tmp_path / "runs" / "toy-icl").mkdir(parents=True)
    (tmp_path / "runs" / "toy-icl" / "manifest.json").write_text("{}")
    save_yaml(to_dict(first), tmp_path / "runs" / "toy-icl" / "config.yaml")
    assert IclConfig(data="toy.csv").out == "runs/toy-icl"  # the same settings
    assert IclConfig(data="toy.csv", shots=8).out == "runs/toy-icl-2"
