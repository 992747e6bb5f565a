"""The Hugging Face side: save/load, Auto classes, peft LoRA, generate, and ctxlearn's ICL scorer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

from ctxlearn.scratch import ScratchConfig, ScratchForCausalLM, ScratchForMaskedLM, ScratchForSeq2SeqLM, ScratchModel
from scratch_fixtures import POSITIONS, tiny

HEADS = [("encoder", ScratchForMaskedLM, AutoModelForMaskedLM), ("decoder", ScratchForCausalLM, AutoModelForCausalLM),
         ("encoder-decoder", ScratchForSeq2SeqLM, AutoModelForSeq2SeqLM)]


def x(T: int = 8) -> torch.Tensor:
    return torch.randint(2, 61, (2, T), generator=torch.Generator().manual_seed(0))


def forward(model, ids):
    extra = {"decoder_input_ids": ids[:, :5]} if model.config.arch == "encoder-decoder" else {}
    return model(input_ids=ids, **extra).logits


@pytest.mark.parametrize("arch, cls, auto", HEADS)
def test_save_and_auto_load_give_identical_outputs(tmp_path, arch, cls, auto) -> None:
    torch.manual_seed(0)
    model = cls(tiny(arch, "relative")).eval()
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).positions == "relative"
    loaded = auto.from_pretrained(tmp_path).eval()
    assert type(loaded) is cls
    torch.testing.assert_close(forward(loaded, x()), forward(model, x()), atol=0, rtol=0)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.main.embed.tokens.weight.data_ptr() or arch == "encoder-decoder"


def test_untied_output_projection_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    model = ScratchForCausalLM(tiny("decoder", tie_word_embeddings=False)).eval()
    assert model.lm_head.weight.data_ptr() != model.model.decoder.embed.tokens.weight.data_ptr()
    model.save_pretrained(tmp_path)
    torch.testing.assert_close(AutoModelForCausalLM.from_pretrained(tmp_path).lm_head.weight, model.lm_head.weight)


def test_automodel_loads_the_encoder_of_an_mlm_checkpoint(tmp_path) -> None:
    torch.manual_seed(0)
    mlm = ScratchForMaskedLM(tiny("encoder")).eval()
    mlm.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path).eval()
    assert type(backbone) is ScratchModel and backbone.config.hidden_size == 32
    torch.testing.assert_close(backbone(input_ids=x()).last_hidden_state, mlm.model(input_ids=x()).last_hidden_state)


def test_standard_attribute_names_map_to_the_config_fields() -> None:
    cfg = ScratchConfig(hidden_size=48, num_hidden_layers=3, num_attention_heads=6, max_position_embeddings=99)
    assert (cfg.d_model, cfg.n_layer, cfg.n_head, cfg.max_len, cfg.d_ff) == (48, 3, 6, 99, 192)


def test_peft_lora_wraps_trains_and_merges() -> None:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(ScratchForMaskedLM(tiny("encoder")), LoraConfig(r=4, target_modules=["query", "value"]))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        model(input_ids=x(), labels=x()).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    before = model(input_ids=x()).logits
    merged = model.merge_and_unload()
    torch.testing.assert_close(merged(input_ids=x()).logits, before, atol=1e-5, rtol=0)


def prompt_learning(method: str, positions: str):
    """A tiny scratch encoder classifier (position table 16 long) under peft prefix or prompt tuning
    with 4 virtual tokens, and the list the positions its embeddings see are appended to."""
    from ctxlearn.methods import METHODS
    from ctxlearn.models.classifier import EncoderClassifier

    torch.manual_seed(0)
    clf = EncoderClassifier(ScratchModel(tiny("encoder", positions, max_len=16)), 2).eval()
    seen = []
    clf.backbone.encoder.embed.register_forward_pre_hook(lambda module, args: seen.append(args[1]))
    spec = METHODS.get(method)
    return spec.prepare(clf, spec.options(virtual_tokens=4)), seen


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_virtual_tokens_leave_real_tokens_at_their_pretrained_positions(method, positions) -> None:
    """Real tokens sit at 0 .. T-1 with or without virtual tokens (which sit at 0), so a 16-token
    input fits a 16-row learned table."""
    from ctxlearn.models.classifier import token_states

    clf, seen = prompt_learning(method, positions)
    hidden = token_states(clf.backbone, x(16), torch.ones(2, 16, dtype=torch.long))
    assert hidden.shape == (2, 16, 32) and torch.isfinite(hidden).all()
    virtual = 4 if method == "prompt" else 0  # prompt tuning's virtual tokens pass through the embeddings
    assert torch.equal(seen[-1], torch.cat([torch.zeros(virtual, dtype=torch.long), torch.arange(16)]).expand(2, -1))


@pytest.mark.parametrize("positions", POSITIONS)
def test_a_prefix_no_token_attends_to_changes_nothing(positions) -> None:
    clf, _ = prompt_learning("prefix", positions)
    base, ids = clf.backbone.get_base_model(), x(16)
    plain = base(input_ids=ids).last_hidden_state
    masked = torch.cat([torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 16, dtype=torch.long)], 1)
    prefixed = base(input_ids=ids, attention_mask=masked, past_key_values=clf.backbone.get_prompt(2)).last_hidden_state
    torch.testing.assert_close(prefixed, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", ["alibi", "rope"])
def test_generate_equals_greedy_decoding_by_hand(positions) -> None:
    torch.manual_seed(0)
    model = ScratchForCausalLM(tiny("decoder", positions, eos_token_id=None)).eval()
    prompt = x(5)[:1]
    ids = prompt
    for _ in range(6):
        ids = torch.cat([ids, model(input_ids=ids).logits[:, -1:].argmax(-1)], 1)
    assert torch.equal(model.generate(prompt, max_new_tokens=6, do_sample=False), ids)


@pytest.mark.parametrize("positions", ["relative", "rope"])
def test_seq2seq_generate_equals_greedy_decoding_by_hand(positions) -> None:
    """generate calls the encoder with its own keywords, reads encoder_outputs[0] and passes an
    EncoderDecoderCache; each must reach the scratch model intact, every row its own encoding."""
    torch.manual_seed(0)
    model = ScratchForSeq2SeqLM(tiny("encoder-decoder", positions, eos_token_id=None, tie_word_embeddings=False)).eval()
    src, mask = x(6), torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    dec = torch.full((2, 1), model.config.decoder_start_token_id)
    for _ in range(6):
        dec = torch.cat([dec, model(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits[:, -1:].argmax(-1)], 1)
    assert not torch.equal(dec[0], dec[1])  # rows differ, so one row's encoding standing in for all would show
    assert torch.equal(model.generate(src, attention_mask=mask, max_new_tokens=6, do_sample=False), dec)


@pytest.mark.parametrize("positions", POSITIONS)
def test_left_padded_batch_generates_what_each_row_generates_alone(positions) -> None:
    """generate counts positions over real tokens (cumsum - 1 of the mask); the distance biases of
    alibi and relative must count cached keys the same way, or padded rows drift after one step."""
    torch.manual_seed(0)
    model = ScratchForCausalLM(tiny("decoder", positions, eos_token_id=None)).eval()
    rows = [x(7)[0], x(4)[1]]
    batch = torch.stack([torch.cat([torch.zeros(7 - len(r), dtype=torch.long), r]) for r in rows])  # left-padded
    mask = torch.stack([torch.cat([torch.zeros(7 - len(r), dtype=torch.long), torch.ones_like(r)]) for r in rows])
    settings = dict(max_new_tokens=6, do_sample=False, output_scores=True, return_dict_in_generate=True, pad_token_id=0)
    together = model.generate(batch, attention_mask=mask, **settings)
    for i, row in enumerate(rows):
        alone = model.generate(row[None], **settings)
        assert torch.equal(together.sequences[i, 7 - len(row):], alone.sequences[0])
        torch.testing.assert_close(torch.stack(together.scores)[:, i], torch.stack(alone.scores)[:, 0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_icl_scoring_with_shared_prefixes_and_packed_branches_equals_plain_forward(positions) -> None:
    """ctxlearn's ICL scorer drives the model through a key/value cache, tree-shaped 4-D masks and
    position ids that restart at branch points; every score must equal a plain forward pass."""
    from ctxlearn.icl.scoring import score_prompts

    torch.manual_seed(0)
    model = ScratchForCausalLM(tiny("decoder", positions)).eval()
    rng = np.random.default_rng(0)
    prefix = rng.integers(2, 60, 10).tolist()
    prompts = [tuple(prefix + rng.integers(2, 60, rng.integers(1, 6)).tolist()) for _ in range(12)]
    verbalizers = [(5,), (7, 8), (9, 10, 11)]
    groups = [0] * 10 + [1, 2]  # one large group (cached prefix) and two singles (packed side by side)

    def plain(prompt, verb) -> float:
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([list(prompt) + list(verb)])).logits[0].double(), -1)
        return sum(logp[len(prompt) - 1 + t, tok].item() for t, tok in enumerate(verb))

    expected = np.array([[plain(p, v) for v in verbalizers] for p in prompts])
    np.testing.assert_allclose(score_prompts(model, prompts, verbalizers, groups, batch_tokens=40), expected, atol=1e-4)
