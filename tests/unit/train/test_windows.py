"""Word alignment and windows: first sub-word labelled, the rest -100; long sentences split into
overlapping windows whose outputs merge back to one per word, from the window with the most context."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from ctxlearn.data.example import TaggedSentence
from ctxlearn.data.tags import bio_labels
from ctxlearn.models.tagger import IGNORE, EncoderTagger
from ctxlearn.tasks.tagging import word_logits
from ctxlearn.train.windows import NO_EDGE, context, encode_tags, plan_windows

WORDS = "the good movie was really nice and the plot was bad".split()


def sentence(words: list[str], tags: list[str] | None = None) -> TaggedSentence:
    return TaggedSentence(tuple(words), tuple(tags or ["O"] * len(words)), tuple(range(1, len(words) + 1)))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):
    return AutoTokenizer.from_pretrained(tiny_bert)


def test_first_subword_carries_the_label(tokenizer):
    s = sentence(["goods", "movie", "sadly"], ["B-X", "O", "B-Y"])  # goods -> good ##s, sadly -> sad ##ly
    labels = bio_labels({"X", "Y"})
    row = encode_tags([s], tokenizer, labels, 32).rows[0]
    assert tokenizer.convert_ids_to_tokens(row["input_ids"]) == ["[CLS]", "good", "##s", "movie", "sad", "##ly", "[SEP]"]
    assert row["labels"] == [IGNORE, labels.index("B-X"), IGNORE, labels.index("O"), labels.index("B-Y"), IGNORE, IGNORE]


@pytest.mark.parametrize("counts, budget, windows", [
    ([1] * 5, 8, [(0, 5)]),                                   # fits: one window
    ([1] * 10, 4, [(0, 4), (2, 6), (4, 8), (6, 10)]),          # half-window steps
    ([2, 2, 2, 2, 2], 4, [(0, 2), (1, 3), (2, 4), (3, 5)]),
    ([1, 9, 1, 1], 4, [(0, 1), (1, 2), (2, 4)]),              # a word longer than the window is one of its own
])
def test_plan_windows(counts, budget, windows):
    assert plan_windows(counts, budget) == windows
    covered = {w for a, b in windows for w in range(a, b)}
    assert covered == set(range(len(counts)))


def test_context_counts_sentence_edges_as_no_edge():
    cum = np.cumsum([0] + [1] * 10).tolist()
    assert context(cum, 0, 4, 0, 10) == 3  # no left edge at the sentence start; 3 sub-words to the right edge
    assert context(cum, 2, 6, 3, 10) == 1 and context(cum, 2, 6, 4, 10) == 1
    assert context(cum, 0, 10, 5, 10) == NO_EDGE


def test_each_word_is_read_from_its_best_window(tokenizer):
    words = (WORDS * 3)[:30]
    data = encode_tags([sentence(words)], tokenizer, None, 10)  # 8 sub-words of room per window
    assert len(data.windows) > 3
    cum = np.cumsum([0] + [1] * 30).tolist()  # every word is one sub-word in the tiny vocabulary
    for w in range(30):
        win = data.windows[data.owner_row[w]]
        best = max(context(cum, x.start, x.end, w, 30) for x in data.windows if x.start <= w < x.end)
        assert win.start <= w < win.end and context(cum, win.start, win.end, w, 30) == best
        assert data.rows[data.owner_row[w]]["input_ids"][data.owner_pos[w]] == tokenizer.convert_tokens_to_ids(words[w])


def tagger(tokenizer, positions: bool) -> EncoderTagger:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    model = EncoderTagger(BertModel(config, add_pooling_layer=False), 5).eval()
    if not positions:  # attention then sees a bag of words: each window of a repeated text sees the same
        model.backbone.embeddings.position_embeddings.weight.data.zero_()
    return model


def test_windows_equal_one_pass_on_sentences_that_fit(tokenizer):
    """The same model, sentences that fit: windowed encoding (max_length 16) and one pass (64) agree."""
    model = tagger(tokenizer, positions=True)
    sents = [sentence(WORDS[:n]) for n in (3, 7, 11)] + [sentence(WORDS[::-1])]
    one = encode_tags(sents, tokenizer, None, 64)
    windowed = encode_tags(sents, tokenizer, None, 16)
    assert len(windowed.rows) == len(sents)
    np.testing.assert_allclose(word_logits(model, windowed, tokenizer, False), word_logits(model, one, tokenizer, False),
                               atol=1e-6)
    first = one.rows[1]
    with torch.no_grad():  # and they are the model's own outputs at each word's first sub-word
        direct = model(torch.tensor([first["input_ids"]]), torch.tensor([first["attention_mask"]])).logits[0]
    np.testing.assert_allclose(word_logits(model, one, tokenizer, False)[3:10], direct[1:8].numpy(), atol=1e-6)


def test_long_sentence_merges_back_to_one_output_per_word(tokenizer):
    """A text repeated four times, split into windows that each hold exactly one repeat: with no
    position embeddings every window sees the same bag of words, so each word's merged output must
    equal its output in one pass over one repeat (it would not, if a word were read from the wrong
    position or the wrong window)."""
    model = tagger(tokenizer, positions=False)
    unit = WORDS[:6]
    long = sentence(unit * 4)
    data = encode_tags([long], tokenizer, None, 8)  # 6 sub-words of room: windows at word 0, 3, 6, ...
    assert len(data.windows) > 1 and all(w.end - w.start == 6 for w in data.windows)
    merged = word_logits(model, data, tokenizer, False)
    one = word_logits(model, encode_tags([sentence(unit)], tokenizer, None, 8), tokenizer, False)
    assert merged.shape == (24, 5)
    np.testing.assert_allclose(merged, np.tile(one, (4, 1)), atol=1e-5)
