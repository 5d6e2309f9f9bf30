"""The time-series language model on a tiny random LLM: batched generation against one row at
a time, generation against the teacher-forced pass, checkpoints of the trainable parts only."""
from __future__ import annotations

import pytest
import torch

from lib.config import Config
from lib.data.reasoning import label_sets, make_examples
from lib.errors import UserError
from model.reasoner import POST_PROMPT, EncoderClassifier, Majority, StatsForest, TimeSeriesLM, normalised_channels
from model.registry import build_reasoner, reasoner_names

TINY = dict(llm_model="tiny", llm_layers=2, rs_enc_dim=16, rs_enc_heads=2, rs_enc_layers=1, rs_enc_ff=32)


def tiny_lm(**changes) -> TimeSeriesLM:
    torch.manual_seed(0)
    model = TimeSeriesLM(Config(**{**TINY, **changes})).eval()
    louder(model)
    return model


def louder(model: TimeSeriesLM) -> None:
    """A tiny random LLM only echoes its last input token; scaled-up layers make every token
    depend on the whole context, so that a wrong position or mask changes what it generates."""
    with torch.no_grad():
        for name, p in model.llm.named_parameters():
            if p.dim() == 2 and "embed" not in name:
                p.mul_(30)
    model.end_id = -1        # generate every token asked for


def test_channels_are_normalised_and_padded_to_whole_patches():
    x = torch.randn(50, 3) * 5 + 2
    z, mean, std = normalised_channels(x, 4)
    assert z.shape == (3, 52) and torch.all(z[:, 50:] == 0)
    torch.testing.assert_close(z[:, :50].mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(mean, x.mean(dim=0))


def test_batched_generation_equals_one_row_at_a_time():
    model = tiny_lm()
    ex = make_examples(3, "train", seed=1, T=48, N=2)
    series, questions = [e.series for e in ex], [e.questions[i]["question"] for i, e in enumerate(ex)]
    with torch.no_grad():   # the padded prompt pass gives every row the logits it has alone
        first = model.logits(model.prefill(series, questions)[0].last_hidden_state[:, -1])
        for r, (s, q) in enumerate(zip(series, questions)):
            alone_first = model.logits(model.prefill([s], [q])[0].last_hidden_state[:, -1])[0]
            torch.testing.assert_close(first[r], alone_first, rtol=1e-4, atol=1e-4)
    together = model.generate_ids(series, questions, 6)
    alone = [model.generate_ids([s], [q], 6)[0] for s, q in zip(series, questions)]
    assert together == alone and len({tuple(t) for t in together}) == 3


def test_generation_is_the_argmax_of_the_teacher_forced_pass():
    model = tiny_lm()
    ex = make_examples(1, "train", seed=2, T=48, N=2)[0]
    question = ex.questions[0]["question"]
    ids = model.generate_ids([ex.series], [question], 6)[0]
    assert ids
    prompt = model.prompt(ex.series, question)
    full = torch.cat([prompt, model.llm.get_input_embeddings()(torch.tensor(ids))])[None]
    with torch.no_grad():
        hidden = model.llm(inputs_embeds=full, use_cache=False).last_hidden_state[0]
    predicted = model.logits(hidden[prompt.shape[0] - 1: prompt.shape[0] - 1 + len(ids)]).argmax(-1)
    assert predicted.tolist() == ids


def reference_loss(model: TimeSeriesLM, series, questions, answers) -> torch.Tensor:
    """The loss written out plainly: each row's whole sequence alone, unpadded, uncached."""
    logits, targets = [], []
    for s, q, a in zip(series, questions, answers):
        ids = torch.tensor(model.tokenizer.encode(a + "\n"))
        prompt = model.prompt(s, q)
        full = torch.cat([prompt, model.llm.get_input_embeddings()(ids)])[None]
        hidden = model.llm(inputs_embeds=full, use_cache=False).last_hidden_state[0]
        logits.append(model.logits(hidden[prompt.shape[0] - 1: prompt.shape[0] - 1 + len(ids)]))
        targets.append(ids)
    return torch.nn.functional.cross_entropy(torch.cat(logits), torch.cat(targets))


@pytest.mark.parametrize("as_text", [False, True])
def test_questions_sharing_a_series_give_the_plain_loss_gradients_and_answers(as_text):
    """Two examples' four questions each, as a training batch holds them: the shared pass over
    each series (--llm_prefix_cache) equals every row alone, in loss, gradients and answers."""
    ex = make_examples(3, "train", seed=5, T=48, N=1 if as_text else 2)[1:]
    samples = [(e.series, q["question"], q["answer"]) for e in ex for q in e.questions]
    s, q, a = (list(col) for col in zip(*samples))
    shared, plain = tiny_lm(rs_series_as_text=as_text), tiny_lm(rs_series_as_text=as_text, llm_prefix_cache=False)
    plain.load_state_dict(shared.state_dict())
    grads = []
    for model, fn in ((shared, type(shared).loss), (plain, type(plain).loss), (shared, reference_loss)):
        model.zero_grad()
        loss = fn(model, s, q, a)
        if not as_text:   # the text control trains nothing here (no LoRA)
            loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.projector.parameters()] if not as_text else []))
    for loss, g in grads[1:]:
        torch.testing.assert_close(loss, grads[0][0], rtol=1e-5, atol=1e-5)
        for x, y in zip(g, grads[0][1]):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
    assert shared.generate_ids(s, q, 3) == plain.generate_ids(s, q, 3) == [shared.generate_ids([x], [y], 3)[0]
                                                                         for x, y in zip(s, q)]


def test_the_loss_reads_the_answer_tokens_and_trains_the_encoder_and_projector():
    model = tiny_lm().train()
    ex = make_examples(2, "train", seed=3, T=48, N=2)
    s, q = [e.series for e in ex], [e.questions[0]["question"] for e in ex]
    a = [e.questions[0]["answer"] for e in ex]
    loss = model.loss(s, q, a)
    loss.backward()
    assert model.loss(s, q, ["zzzz" + x for x in a]).item() != loss.item()
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in model.llm.parameters())


def test_checkpoints_keep_the_trainable_parts_and_lora(tmp_path):
    model = tiny_lm(llm_lora_r=4)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.add_(0.3)
    state = model.state_dict()
    assert any("lora_" in k for k in state) and not any(k.startswith("llm.") and "lora_" not in k for k in state)
    torch.save(state, tmp_path / "r.pth")
    again = TimeSeriesLM(Config(**TINY, llm_lora_r=4)).eval()
    louder(again)   # the same scaling of the same seeded LLM, before the adapters are loaded
    again.load_state_dict(torch.load(tmp_path / "r.pth", weights_only=True))
    ex = make_examples(2, "train", seed=4, T=48, N=2)
    args = ([e.series for e in ex], [e.questions[0]["question"] for e in ex], 5)
    assert again.generate_ids(*args) == model.generate_ids(*args)


def test_the_encoder_head_control_scores_every_label_of_its_question():
    cfg = Config(**TINY)
    model = EncoderClassifier(cfg, label_sets(2), 2)
    ex = make_examples(3, "train", seed=5, T=48, N=2)
    assert model([e.series for e in ex], "channel").shape == (3, 3)
    assert model([e.series for e in ex], "kind_choice").shape == (3, 7)


def test_the_classical_controls_fit_and_the_grounding_checks_see_through_a_blind_model():
    from lib.data.reasoning import samples_of
    from lib.score.reasoning import grounding_checks
    from model.reasoner import window_statistics

    train, test = make_examples(140, "train", seed=1, T=64, N=2), make_examples(28, "test", seed=1, T=64, N=2)
    assert window_statistics(train[0].series).shape == (2 * 11,)
    forest = StatsForest(0).fit(samples_of(train))
    labels = forest.predict_labels(samples_of(test))
    truth = [s.label for s in samples_of(test)]
    assert sum(p == t for p, t in zip(labels, truth)) / len(truth) > 2 / 7   # above chance on kinds and more
    majority = Majority().fit(samples_of(train))
    checks = grounding_checks(majority, test, Config())
    # a model that ignores the series answers the same whatever the series: removing the anomaly
    # never turns its answer to 'none' unless it always says 'none'
    assert checks["removed_answered_none"] in (0.0, 1.0) and 0 <= checks["shuffled_accuracy"] <= 1


def test_numbers_as_text_put_the_values_in_the_prompt_and_train_nothing_of_the_encoder():
    model = TimeSeriesLM(Config(**TINY, rs_series_as_text=True))
    ex = make_examples(1, "train", seed=6, T=48, N=2)[0]
    assert model.prompt(ex.series, "q").shape[0] > 2 * 48 * 3           # every value spelled out
    assert not any(p.requires_grad for p in [*model.encoder.parameters(), *model.projector.parameters()])


def test_every_reasoner_is_one_registry_entry_built_from_the_config():
    assert reasoner_names() == ("encoder_head", "majority", "stats_forest", "tslm")
    head = build_reasoner(Config(**{**TINY, "rs_model": "encoder_head"}), 2)
    assert isinstance(head, EncoderClassifier) and set(head.heads) == set(label_sets(2))
    assert isinstance(build_reasoner(Config(**{**TINY, "rs_model": "tslm"}), 2), TimeSeriesLM)
    forest = build_reasoner(Config(**{**TINY, "rs_model": "stats_forest", "seed": 7}), 2)
    assert isinstance(forest, StatsForest) and forest.seed == 7
    assert isinstance(build_reasoner(Config(**{**TINY, "rs_model": "majority"}), 2), Majority)
    with pytest.raises(UserError, match="unknown reasoner 'nope'; known: encoder_head, majority"):
        build_reasoner(Config(**{**TINY, "rs_model": "nope"}), 2)


def test_the_chat_template_wraps_the_prompt_and_its_end_of_turn_stops_the_answer():
    from model.llm.backends import HFTokenizer

    class Templated:   # a tokenizer with a chat template, as transformers renders one
        chat_template = "..."

        def apply_chat_template(self, messages, add_generation_prompt, tokenize):
            return f"<u>{messages[0]['content']}</u><a>" if add_generation_prompt and not tokenize else None

    assert HFTokenizer(Templated()).chat_turn() == ("<u>", "</u><a>")
    with pytest.raises(UserError, match="has no chat template"):
        tiny_lm(rs_chat_template=True)   # the tiny LLM's byte tokenizer has none
    model = tiny_lm()
    ex = make_examples(2, "train", seed=4, T=48, N=2)
    args = ([e.series for e in ex], [e.questions[0]["question"] for e in ex], 5)
    first = model.generate_ids(*args)[0][0]
    model.turn_end_id = first
    assert model.generate_ids(*args)[0] == []
    plain = model.series_part(ex[0].series)
    model.turn = ("<u>", "</u><a>")
    wrapped = model.series_part(ex[0].series)
    assert torch.equal(wrapped[:3], model.text("<u>")) and torch.equal(wrapped[3:], plain)
    q = args[1][0]
    assert torch.equal(model.question_part(q), model.text(POST_PROMPT.format(question=q) + "</u><a>"))


def test_the_encoder_sees_how_large_a_patch_is():
    """A patch and the same patch doubled must not encode alike: the LayerNorm after the patch
    embedding removes scale unless the positions added before it are of the embedding's order."""
    from model.reasoner import build_encoder
    torch.manual_seed(0)
    enc = build_encoder(Config(**TINY)).eval()
    x = torch.randn(4, 48)
    with torch.no_grad():
        a, b = enc(x), enc(2 * x)
    assert float((a - b).norm() / a.norm()) > 0.2


def test_the_encoder_is_post_ln_as_opentslm_s_unless_asked():
    from model.reasoner import build_encoder
    assert not any(layer.norm_first for layer in build_encoder(Config(**TINY)).encoder.layers)
    assert all(layer.norm_first for layer in build_encoder(Config(**TINY, rs_enc_norm_first=True)).encoder.layers)


def test_the_head_control_encodes_each_series_once_and_matches_one_question_at_a_time():
    from lib.data.reasoning import samples_of
    torch.manual_seed(0)
    model = EncoderClassifier(Config(**TINY), label_sets(2), 2).eval()
    samples = samples_of(make_examples(3, "train", seed=5, T=48, N=2))
    rows = []
    model.encoder.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[0]))
    logits = model.label_logits([s.series for s in samples], [s.qtype for s in samples])
    assert rows == [3 * 2] and len(logits) == len(samples) == 12   # 3 series x 2 channels, once
    with torch.no_grad():
        for z, s in zip(logits, samples):
            torch.testing.assert_close(z, model([s.series], s.qtype)[0])


def test_the_projector_learns_at_its_own_rate_and_everything_else_at_rs_lr():
    from lib.train.reasoning import param_groups
    model = tiny_lm(llm_lora_r=2, rs_lr=3e-4, rs_lr_projector=1e-5)
    rest, projector = param_groups(model, Config(**TINY, rs_lr=3e-4, rs_lr_projector=1e-5))
    assert projector["lr"] == 1e-5 and {id(p) for p in projector["params"]} == {id(p) for p in model.projector.parameters()}
    assert rest["lr"] == 3e-4 and len(rest["params"]) == sum(p.requires_grad for p in model.parameters()) - 4
    assert any("lora" in n for n, p in model.named_parameters() if any(p is q for q in rest["params"]))
