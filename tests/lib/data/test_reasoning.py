"""The reasoning task generator: anomalies where their records say, answers that state them,
held-out parameters that training never sees, determinism, and reason.py make-data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lib.data.reasoning import (KINDS, REGIONS, Example, inject, make_examples, read_examples, samples_of, series_order,
                                standardised, synthetic_background, write_examples)
from lib.errors import UserError
from tests.conftest import stopped_at_call
from tests.test_cli import cli


@pytest.mark.parametrize("kind", KINDS[1:])
def test_each_anomaly_changes_only_its_channel_inside_its_record(kind):
    rng = np.random.default_rng(3)
    region = REGIONS["train"]
    for _ in range(20):
        clean = standardised(synthetic_background(rng, 96, 3, region))
        x = clean.copy()
        rec = inject(x, kind, rng, region)
        changed = np.argwhere(np.abs(x - clean) > 1e-9)
        assert changed.size, kind
        assert set(changed[:, 1]) == {rec["channel"]}
        assert changed[:, 0].min() >= rec["onset"] and changed[:, 0].max() <= rec["end"]
        assert rec["direction"] in (("",) if kind == "correlation break" else ("up", "down"))


def test_none_changes_nothing():
    rng = np.random.default_rng(0)
    x = standardised(synthetic_background(rng, 96, 2, REGIONS["train"]))
    before = x.copy()
    assert inject(x, "none", rng, REGIONS["train"])["onset"] == -1 and np.array_equal(x, before)


def test_kinds_are_balanced_and_answers_state_their_labels():
    examples = make_examples(70, "train", seed=1)
    assert {k: sum(e.kind == k for e in examples) for k in KINDS} == {k: 10 for k in KINDS}
    for e in examples:
        assert [q["type"] for q in e.questions] == ["kind_choice", "kind_free", "channel", "onset"]
        for q in e.questions:
            assert q["answer"].endswith(f"Answer: {q['label']}")
        why = e.questions[0]["answer"]
        if e.kind != "none":
            assert f"Channel {e.channel} " in why and f"step {e.onset}" in why
    univariate = make_examples(12, "train", seed=1, N=1)
    assert "correlation break" not in {e.kind for e in univariate}


def test_rs_kinds_draws_only_the_kinds_asked_and_the_questions_still_offer_every_kind():
    examples = make_examples(30, "train", seed=1, only="none, level shift,spike")
    assert {k: sum(e.kind == k for e in examples) for k in KINDS if k in {e.kind for e in examples}} == {
        "none": 10, "spike": 10, "level shift": 10}
    assert all(k in examples[0].questions[0]["question"] for k in KINDS)
    for bad in ("spike", "spike,bump", "correlation break,none"):
        with pytest.raises(UserError, match="--rs_kinds"):
            make_examples(3, "train", seed=1, N=1 if "correlation" in bad else 3, only=bad)


def test_answers_without_rationale_are_the_labels_alone_over_the_same_series():
    told, bare = make_examples(14, "train", seed=2), make_examples(14, "train", seed=2, with_rationale=False)
    assert all(np.array_equal(a.series, b.series) for a, b in zip(told, bare))
    assert all(q["answer"] == f"Answer: {q['label']}" for e in bare for q in e.questions)
    assert all(e.has_rationale for e in told) and not any(e.has_rationale for e in bare)
    for e in bare:   # the grounding check's clean copy keeps the form
        if e.kind != "none":
            assert e.without_anomaly().questions[1]["answer"] == "Answer: none"


def test_heldout_draws_parameters_training_never_sees():
    train, held = make_examples(140, "train", seed=2), make_examples(140, "heldout", seed=2)
    mags = lambda xs, k: [e.magnitude for e in xs if e.kind == k]
    assert max(mags(train, "level shift")) < min(mags(held, "level shift"))
    lengths = lambda xs: [e.length for e in xs if e.kind not in ("none", "spike")]
    assert max(lengths(train)) < min(lengths(held))


def test_the_generator_is_deterministic_and_round_trips(tmp_path):
    a, b = make_examples(14, "test", seed=5), make_examples(14, "test", seed=5)
    assert all(np.array_equal(x.series, y.series) and x.kind == y.kind for x, y in zip(a, b))
    assert not np.array_equal(a[0].series, make_examples(14, "test", seed=6)[0].series)
    write_examples(a, tmp_path / "t.jsonl")
    back = read_examples(tmp_path / "t.jsonl")
    assert isinstance(back[0], Example) and back[0].questions == a[0].questions
    np.testing.assert_allclose(back[0].series, a[0].series, atol=1e-4)
    (tmp_path / "bad.jsonl").write_text('{"series": [1]}\n')
    with pytest.raises(UserError, match="not a file of reason.py make-data"):
        read_examples(tmp_path / "bad.jsonl")


def test_reason_py_make_data_writes_three_splits_and_refuses_bad_input_in_one_line(tmp_path):
    out = cli("reason.py", "make-data", "--rs_data", str(tmp_path / "d"), "--rs_n_train", "14", "--rs_n_eval", "7",
              "--rs_length", "64", "--rs_channels", "2")
    assert out.returncode == 0, out.stderr
    assert [len(read_examples(tmp_path / "d" / f"{s}.jsonl")) for s in REGIONS] == [14, 7, 7]
    for bad in (["bogus"], ["make-data", "--rs_length", "10"], ["train", "--rs_model", "nope"],
                ["make-data", "--rs_kinds", "spike,bump"]):
        done = cli("reason.py", *bad)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


ENCODER = ["--rs_enc_dim", "16", "--rs_enc_heads", "2", "--rs_enc_layers", "1", "--rs_enc_ff", "32"]


@pytest.fixture(scope="module")
def tiny_reasoner(tmp_path_factory):
    """Tasks of 48 x 2 and a tslm on a 1-layer random LLM trained on them for one epoch:
    (data folder, expe folder, checkpoint)."""
    root = tmp_path_factory.mktemp("reasoner")
    data, expe = str(root / "d"), str(root / "e")
    assert cli("reason.py", "make-data", "--rs_data", data, "--rs_n_train", "21", "--rs_n_eval", "7",
               "--rs_length", "48", "--rs_channels", "2").returncode == 0
    tslm = cli("reason.py", "train", "--rs_data", data, "--expe_dir", expe, "--epochs", "1", "--llm_model", "tiny",
               "--llm_layers", "1", "--rs_max_new_tokens", "4", *ENCODER)
    assert tslm.returncode == 0, tslm.stderr[-1500:]
    return data, expe, str(root / "e" / "pth" / "reason_tslm_L1_tiny_seed666.pth")


def test_reason_py_trains_evaluates_and_answers_on_tiny_models(tiny_reasoner, tmp_path):
    data, expe, ck = tiny_reasoner
    head = cli("reason.py", "train", "--rs_data", data, "--expe_dir", expe, "--epochs", "2", "--rs_model",
               "encoder_head", *ENCODER)
    assert head.returncode == 0, head.stderr[-1500:]
    out = json.loads((Path(expe) / "results" / "reasoning" / "encoder_head_seed666.json").read_text())
    assert set(out["scores"]) == {"test", "heldout"} and out["scores"]["test"]["kind_choice"]["n"] == 7
    assert out["scores"]["test"]["kind_choice"]["parse_failure"] == 0.0
    assert set(out["scores"]["test"]["grounding"]) == {"shuffled_accuracy", "removed_answered_none"}
    # the timers scripts/bench_reasoning.py's probes read
    assert out["scores"]["test"]["grounding_seconds"] > 0 and out["scores"]["heldout"]["seconds"] > 0
    assert [set(h) >= {"seconds", "val_seconds", "val_kind_accuracy", "val_parse_failure"}
            for h in out["training"]["history"]] == [True, True]   # and the learning curve
    assert cli("reason.py", "eval", "--checkpoint", ck, "--expe_dir", expe).returncode == 0
    np.savetxt(tmp_path / "s.csv", np.random.default_rng(0).normal(size=(48, 2)), delimiter=",", header="a,b")
    asked = cli("reason.py", "ask", "--checkpoint", ck, "--series", str(tmp_path / "s.csv"))
    assert asked.returncode == 0, asked.stderr[-1500:]
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    bad = cli("reason.py", "ask", "--checkpoint", ck, "--series", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    state = cli("reason.py", "ask", "--checkpoint", ck.replace(".pth", "_last.pth"), "--series", str(tmp_path / "s.csv"))
    assert state.returncode == 2 and "not a trained reasoner" in state.stderr and "Traceback" not in state.stderr


def test_reason_py_runs_on_the_device_asked_for_and_records_it(tiny_reasoner, tmp_path):
    import torch
    data, expe, ck = tiny_reasoner
    out = json.loads((Path(expe) / "results" / "reasoning" / "tslm_L1_tiny_seed666.json").read_text())
    on_gpu = torch.cuda.is_available()   # --device auto: the GPU where torch sees one
    assert out["device"] == ("cuda:0" if on_gpu else "cpu") and ("peak_gpu_mb" in out) == on_gpu
    # eval and ask take the run's flags over the checkpoint's config
    done = cli("reason.py", "eval", "--checkpoint", ck, "--device", "cpu", "--expe_dir", str(tmp_path))
    assert done.returncode == 0 and (tmp_path / "results" / "reasoning" / f"eval_{Path(ck).stem}.json").is_file()
    if not torch.cuda.is_available():
        for command in (["eval"], ["ask", "--series", str(tmp_path / "none.csv")]):
            refused = cli("reason.py", *command, "--checkpoint", ck, "--device", "cuda")
            assert refused.returncode == 2 and "no CUDA device" in refused.stderr, refused.stderr[-800:]


def test_the_tslm_starts_from_an_encoder_head_s_encoder_of_the_same_shape_else_one_line(tiny_reasoner, tmp_path):
    import torch
    data, _, tslm_ck = tiny_reasoner
    expe = str(tmp_path / "e")
    assert cli("reason.py", "train", "--rs_data", data, "--expe_dir", expe, "--epochs", "1", "--rs_model",
               "encoder_head", *ENCODER).returncode == 0
    head_ck = str(Path(expe) / "pth" / "reason_encoder_head_seed666.pth")
    tslm = ["reason.py", "train", "--rs_data", data, "--expe_dir", expe, "--llm_model", "tiny", "--llm_layers", "1",
            "--rs_max_new_tokens", "2", "--rs_eval_series", "1", *ENCODER]
    started = cli(*tslm, "--epochs", "0", "--rs_encoder_from", head_ck)
    assert started.returncode == 0, started.stderr[-1500:]
    encoder = lambda path: {k: v for k, v in torch.load(path, weights_only=True)["model"].items()
                            if k.startswith("encoder.")}
    theirs, ours = encoder(head_ck), encoder(Path(expe) / "pth" / "reason_tslm_L1_tiny_seed666.pth")
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    for flags, match in ((["--rs_encoder_from", head_ck, "--rs_enc_norm_first", "True"], "--rs_enc_norm_first False there"),
                         (["--rs_encoder_from", tslm_ck], "not a trained encoder_head"),
                         (["--rs_encoder_from", str(tmp_path / "none.pth")], "no such file")):
        refused = cli(*tslm, "--epochs", "1", *flags)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr[-800:]
        assert match in refused.stderr


def test_rs_eval_series_scores_the_first_series_of_each_split(tiny_reasoner):
    data, expe, _ = tiny_reasoner
    done = cli("reason.py", "train", "--rs_data", data, "--expe_dir", expe, "--rs_model", "majority",
               "--rs_eval_series", "3")
    assert done.returncode == 0, done.stderr[-1500:]
    scores = json.loads((Path(expe) / "results" / "reasoning" / "majority_seed666.json").read_text())["scores"]
    assert [scores[s]["kind_choice"]["n"] for s in ("test", "heldout")] == [3, 3]
    assert cli("reason.py", "train", "--rs_data", data, "--rs_eval_series", "-1").returncode == 2


def test_test_py_explains_every_alarm_in_words_with_a_reasoner(tiny_reasoner, tmp_path):
    from tests.test_cli import TINY
    ck = tiny_reasoner[2]
    detector = ["--expe_dir", str(tmp_path / "det")]
    assert cli("run.py", *TINY, *detector, "--epochs", "1").returncode == 0
    scored = cli("test.py", *TINY, *detector, "--explain", "text", "--reasoner", ck)
    assert scored.returncode == 0, scored.stderr[-1500:]
    (result,) = (tmp_path / "det" / "results").rglob("*.json")
    root_cause = json.loads(result.read_text())["root_cause"]
    alarms = root_cause["alarms"]
    assert alarms and all(len(a["top_features"]) == 2 and "reply" in a["words"] for a in alarms)
    assert scored.stdout.count("alarm at steps") == len(alarms)
    words = root_cause["words_scores"]   # the synthetic data knows its kinds
    assert words["alarms"] == len(alarms) and "explanations:" in scored.stdout
    missing = cli("test.py", *TINY, *detector, "--explain", "text")
    assert missing.returncode == 2 and "--reasoner" in missing.stderr


def test_series_order_keeps_each_examples_questions_together_in_a_seeded_shuffle():
    ex = make_examples(6, "train", seed=1, T=48, N=2)
    samples = samples_of(ex)
    order = series_order(samples, seed=3)
    assert sorted(order) == list(range(len(samples))) and order == series_order(samples, seed=3)
    assert order != series_order(samples, seed=4) and order != list(range(len(samples)))
    k = len(ex[0].questions)
    for i in range(0, len(order), k):   # every run of k indices is one example's questions, in order
        assert order[i:i + k] == list(range(order[i], order[i] + k)) and order[i] % k == 0


def test_training_follows_opentslm_s_schedule_and_resumes_on_it(tmp_path, monkeypatch):
    """Warm-up then linear decay to 0 over --epochs, the projector at its own rate; a run stopped
    in its second epoch and resumed ends with the weights of one that was never stopped."""
    import torch

    import lib.train.reasoning as tr
    from lib.config import Config
    from model.reasoner import EncoderClassifier, label_sets

    cfg = Config(rs_enc_dim=16, rs_enc_heads=2, rs_enc_layers=1, rs_enc_ff=32, epochs=2, patience=0, seed=3,
                 rs_warmup=0.25)
    examples = make_examples(20, "train", seed=2, T=48, N=2)   # 18 training series: 9 steps an epoch

    def trained(state=None, resume=False):
        torch.manual_seed(0)
        model = EncoderClassifier(cfg, label_sets(2), 2)
        cfg.resume = resume
        return tr.fit(model, examples, cfg, state)[0].state_dict()

    lrs = []
    real_step = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda opt, *a, **k: (lrs.append(opt.param_groups[0]["lr"]),
                                                                          real_step(opt, *a, **k))[1])
    plain = trained()
    assert len(lrs) == 18 and lrs[0] == 0.0 and max(lrs) == lrs[4] == cfg.rs_lr   # 4 warm-up steps
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] == pytest.approx(cfg.rs_lr / 14)

    # 9 training and 1 validation batches, then 3 into epoch 2
    stopped_at_call(monkeypatch, tr, "batch_loss", 9 + 1 + 3, lambda: trained(tmp_path / "state.pth"))
    resumed = trained(tmp_path / "state.pth", resume=True)
    for key in plain:
        torch.testing.assert_close(resumed[key], plain[key], msg=key)


def test_a_run_stopped_within_an_epoch_resumes_from_its_last_save_and_ends_as_one_never_stopped(tmp_path, monkeypatch):
    """With a save after every batch (`--save_every_min` tiny), a run stopped at the fifth batch of
    its second epoch resumes after the fourth: same weights, same losses, and the epoch's row says
    what the first process ran of it."""
    import torch

    import lib.train.reasoning as tr
    from lib.config import Config
    from model.reasoner import EncoderClassifier, label_sets

    cfg = Config(rs_enc_dim=16, rs_enc_heads=2, rs_enc_layers=1, rs_enc_ff=32, epochs=2, patience=0, seed=3,
                 save_every_min=1e-9)   # dropout 0.3: the resumed run must restore torch's random state
    examples = make_examples(20, "train", seed=2, T=48, N=2)   # 9 training steps an epoch

    def trained(state=None, resume=False):
        torch.manual_seed(0)
        return tr.fit(EncoderClassifier(cfg.replace(resume=resume), label_sets(2), 2), examples,
                      cfg.replace(resume=resume), state)

    plain, straight = trained()
    # 9 training and 1 validation batches, then the fifth of epoch 2
    stopped_at_call(monkeypatch, tr, "batch_loss", 9 + 1 + 5, lambda: trained(tmp_path / "state.pth"))
    resumed, again = trained(tmp_path / "state.pth", resume=True)
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, msg=key)
    for field in ("train_loss", "val_loss"):
        assert [h[field] for h in again.history] == [h[field] for h in straight.history]
    before = again.history[1]["before_resume"]
    assert before["batches"] == 4 and before["peak_gb"] > 0 and before["git_commits"]
    assert "before_resume" not in straight.history[1] and again.partial is None
    # the resumed run's time adds epoch 1 and the four batches the first process ran of epoch 2
    assert again.resumed_epochs == 1 and again.earlier_seconds() == pytest.approx(
        again.epoch_seconds(1) + before["seconds"])
    assert again.history[1]["seconds"] > before["seconds"] > 0
