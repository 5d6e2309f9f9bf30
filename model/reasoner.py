"""A time-series language model after OpenTSLM's SoftPrompt variant (arXiv 2510.02410), on the
project's LLM loading, and the encoder-only control.

    series [T, N] -> per channel: normalised, patches of 4 -> Conv1d -> + positions -> LayerNorm
      -> Transformer encoder [T/4, d] -> MLP projector [T/4, d_llm]
    LLM input: pre-prompt | for each channel: caption (mean, std) + its series tokens | question
      -> the LLM (frozen; LoRA with --llm_lora_r) generates the answer; the loss is on the answer
         tokens only

The next-token logits use the LLM's word table as output layer: the bundled SmolLM2 ties
its input and output embeddings, so this is its own language-model head.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import DynamicCache

from lib.data.reasoning import label_sets
from lib.errors import UserError
from model.registry import register_reasoner
from model.llm.backends import load_llm, word_embeddings
from model.llm.core import TrainableLLMWeightsOnly, add_lora

PRE_PROMPT = ("You are given a time series with {n} channel(s). Each channel follows a caption with its mean "
              "and standard deviation; its values are shown normalised.")
CAPTION = " Channel {i}, mean {mean:.3f}, std {std:.3f}:"
POST_PROMPT = " Question: {question} Reply in one sentence, then 'Answer:' and the answer.\n"
END = "\n"


class SeriesEncoder(nn.Module):
    """OpenTSLM's CNN-Transformer encoder, our version. `[B, L]` (L a multiple of `patch`) ->
    `[B, L / patch, d]`."""

    def __init__(self, d: int, heads: int, layers: int, ff: int, patch: int, max_patches: int = 256,
                 dropout: float = 0.0, norm_first: bool = False):
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv1d(1, d, kernel_size=patch, stride=patch, bias=False)
        # unit-scale positions, as OpenTSLM's: the LayerNorm after them would otherwise make each
        # patch's embedding blind to its amplitude (LN(W x) = LN(W 2x)), and spikes and shifts vanish
        self.positions = nn.Parameter(torch.randn(max_patches, d))
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, activation="gelu", batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x[:, None]).transpose(1, 2)                              # [B, P, d]
        if z.shape[1] > self.positions.shape[0]:
            raise UserError(f"series of {x.shape[1]} steps are too long for the encoder "
                            f"(at most {self.positions.shape[0] * self.patch})")
        return self.encoder(self.dropout(self.norm(z + self.positions[: z.shape[1]])))


def normalised_channels(series: torch.Tensor, patch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`[T, N]` -> (channels `[N, T']` normalised and right-padded with zeros to a multiple of
    `patch`, means `[N]`, stds `[N]`)."""
    mean, std = series.mean(dim=0), series.std(dim=0, unbiased=False)
    z = ((series - mean) / (std + 1e-6)).T
    pad = (-z.shape[1]) % patch
    return F.pad(z, (0, pad)), mean, std


def build_encoder(cfg) -> SeriesEncoder:
    return SeriesEncoder(cfg.rs_enc_dim, cfg.rs_enc_heads, cfg.rs_enc_layers, cfg.rs_enc_ff, cfg.rs_patch,
                         dropout=cfg.rs_enc_dropout, norm_first=cfg.rs_enc_norm_first)


def chat_turn(tokenizer, cfg) -> tuple[str, str]:
    """(before, after) one user message in the LLM's chat template; one line where it has none."""
    turn = tokenizer.chat_turn()
    if turn is None:
        raise UserError(f"--rs_chat_template True: the tokenizer of --llm_model {cfg.llm_model} has no chat template")
    return turn


class TimeSeriesLM(TrainableLLMWeightsOnly, nn.Module):
    """Series and a question -> an answer in words (trainable: encoder, projector, LoRA)."""

    def __init__(self, cfg):
        super().__init__()
        llm, self.tokenizer, backend = load_llm(cfg)
        if not backend.causal:
            raise UserError(f"--llm_backend {backend.name} cannot generate text; use llama or gpt2")
        self.llm = add_lora(llm, cfg.llm_lora_r) if cfg.llm_lora_r > 0 else llm
        self.encoder = build_encoder(cfg)
        self.projector = nn.Sequential(nn.LayerNorm(cfg.rs_enc_dim),
                                       nn.Linear(cfg.rs_enc_dim, llm.config.hidden_size), nn.GELU())
        self.end_id = self.tokenizer.encode(END)[-1]
        self.turn = chat_turn(self.tokenizer, cfg) if cfg.rs_chat_template else ("", "")
        # the template's end of turn (its first token after the message) also ends an answer
        self.turn_end_id = self.tokenizer.encode(self.turn[1])[0] if self.turn[1] else None
        self.series_as_text = cfg.rs_series_as_text
        self.share_series = cfg.llm_prefix_cache
        if self.series_as_text:   # nothing of the encoder is used: keep it out of the optimiser
            self.encoder.requires_grad_(False)
            self.projector.requires_grad_(False)
        self.keep_trainable_llm_weights_only()

    def train(self, mode: bool = True):
        super().train(mode)
        self.llm.eval()
        return self

    @property
    def dtype(self) -> torch.dtype:
        return word_embeddings(self.llm).dtype

    @property
    def device(self) -> torch.device:
        return word_embeddings(self.llm).device

    def ids(self, text: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer.encode(text), dtype=torch.long, device=self.device)

    def text(self, text: str) -> torch.Tensor:
        return self.llm.get_input_embeddings()(self.ids(text))

    def series_part(self, series: np.ndarray) -> torch.Tensor:
        """The prompt before the question `[S, d_llm]`: the pre-prompt, then per channel its
        caption and series tokens (or, as the control, its values as text)."""
        x = torch.as_tensor(series, dtype=torch.float32, device=self.device)
        channels, mean, std = normalised_channels(x, self.encoder.patch)
        tokens = None if self.series_as_text else self.projector(self.encoder(channels)).to(self.dtype)  # [N, P, d_llm]
        parts = [self.text(self.turn[0] + PRE_PROMPT.format(n=x.shape[1]))]
        for i, (m, s) in enumerate(zip(mean.tolist(), std.tolist())):
            caption = CAPTION.format(i=i, mean=m, std=s)
            if self.series_as_text:   # the control: numbers in text, one decimal, no encoder
                parts.append(self.text(caption + " " + " ".join(f"{v:.1f}" for v in channels[i, : x.shape[0]].tolist())))
            else:
                parts += [self.text(caption), tokens[i]]
        return torch.cat(parts)

    def question_part(self, question: str) -> torch.Tensor:
        return self.text(POST_PROMPT.format(question=question) + self.turn[1])

    def prompt(self, series: np.ndarray, question: str) -> torch.Tensor:
        """The whole prompt's embeddings `[S, d_llm]`: series part, then question."""
        return torch.cat([self.series_part(series), self.question_part(question)])

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden.float() @ word_embeddings(self.llm).float().T

    def run(self, series: list[np.ndarray], tails: list[torch.Tensor]):
        """Row r is `series[r]`'s part of the prompt, then `tails[r]` `[S_r, d_llm]`, through the LLM
        with a cache. Rows given the same series object share one pass over its part (with
        `--llm_prefix_cache`; the four questions of an example do): its keys and values are copied
        to each of them. Series parts and tails are both left-padded, so every row ends in the last
        column. Returns (output, mask `[B, S]`, the next positions `[B]`)."""
        every = list(range(len(series)))
        firsts, rows = shared_rows(series) if self.share_series else (every, every)
        idx = torch.tensor(rows, device=self.device)                                           # [B]
        heads, head_mask = left_padded([self.series_part(series[r]) for r in firsts])          # [U, Sh, d]
        out = self.llm(inputs_embeds=heads, attention_mask=head_mask, position_ids=positions(head_mask),
                       past_key_values=DynamicCache(), use_cache=True)
        cache = out.past_key_values
        if len(firsts) < len(series):
            cache.batch_select_indices(idx)
        tail, tail_mask = left_padded(tails)                                                   # [B, St, d]
        mask = torch.cat([head_mask[idx], tail_mask], dim=1)
        pos = head_mask.sum(dim=1)[idx, None] + positions(tail_mask)
        out = self.llm(inputs_embeds=tail, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
        return out, mask, pos[:, -1] + 1

    def loss(self, series: list[np.ndarray], questions: list[str], answers: list[str]) -> torch.Tensor:
        """Mean cross-entropy of the answer tokens (each answer followed by END) given the prompts."""
        answer_ids = [self.ids(a + END) for a in answers]
        tails = [torch.cat([self.question_part(q), self.llm.get_input_embeddings()(ids)])
                 for q, ids in zip(questions, answer_ids)]
        hidden = self.run(series, tails)[0].last_hidden_state
        # every row ends in the last column; the state before each answer token predicts it
        picked = torch.cat([hidden[r, -len(ids) - 1: -1] for r, ids in enumerate(answer_ids)])
        return F.cross_entropy(self.logits(picked), torch.cat(answer_ids))

    def generate(self, series: list[np.ndarray], questions: list[str], max_new_tokens: int) -> list[str]:
        """Greedy answers in words, stopped at END."""
        return [self.tokenizer.decode(ids).strip() for ids in self.generate_ids(series, questions, max_new_tokens)]

    def prefill(self, series: list[np.ndarray], questions: list[str]):
        """The prompts through the LLM with a cache: (output, mask `[B, S]`, the next positions `[B]`)."""
        return self.run(series, [self.question_part(q) for q in questions])

    @torch.no_grad()
    def generate_ids(self, series: list[np.ndarray], questions: list[str], max_new_tokens: int) -> list[list[int]]:
        """Greedy answer token ids, stopped at END (or at the chat turn's end); the prompts left-padded
        into one batch."""
        out, mask, next_pos = self.prefill(series, questions)
        B = len(questions)
        answers: list[list[int]] = [[] for _ in range(B)]
        done = [False] * B
        for _ in range(max_new_tokens):
            token = self.logits(out.last_hidden_state[:, -1]).argmax(dim=-1)      # [B]
            for r, t in enumerate(token.tolist()):   # one copy to the host a step, not one a row
                if not done[r]:
                    if t in (self.end_id, self.turn_end_id):
                        done[r] = True
                    else:
                        answers[r].append(t)
            if all(done):
                break
            mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
            out = self.llm(inputs_embeds=self.llm.get_input_embeddings()(token[:, None]), attention_mask=mask,
                           position_ids=next_pos[:, None], past_key_values=out.past_key_values, use_cache=True)
            next_pos = next_pos + 1
        return answers


class EncoderClassifier(nn.Module):
    """The control without an LLM: the same encoder, mean-pooled per channel, the channels'
    vectors concatenated, one linear layer per question type onto its labels."""

    def __init__(self, cfg, label_sets: dict[str, list[str]], n_channels: int):
        super().__init__()
        self.encoder = build_encoder(cfg)
        self.label_sets = label_sets
        self.heads = nn.ModuleDict({q: nn.Linear(cfg.rs_enc_dim * n_channels, len(labels))
                                    for q, labels in label_sets.items()})

    def features(self, series: list[np.ndarray]) -> torch.Tensor:
        """`B` series `[T, N]` -> `[B, N*d]`: every channel of every series in one encoder call."""
        device = self.encoder.positions.device
        channels = torch.cat([normalised_channels(torch.as_tensor(s, dtype=torch.float32, device=device),
                                                  self.encoder.patch)[0] for s in series])  # [B*N, T']
        return self.encoder(channels).mean(dim=1).reshape(len(series), -1)

    def forward(self, series: list[np.ndarray], qtype: str) -> torch.Tensor:
        return self.heads[qtype](self.features(series))

    def label_logits(self, series: list[np.ndarray], qtypes: list[str]) -> list[torch.Tensor]:
        """Row r's logits over the labels of `qtypes[r]`; one encoder pass per distinct series
        object (the four questions of an example share theirs)."""
        firsts, idx = shared_rows(series)
        feats = self.features([series[r] for r in firsts])                              # [U, N*d]
        return [self.heads[q](feats[i]) for i, q in zip(idx, qtypes)]


def shared_rows(series: list) -> tuple[list[int], list[int]]:
    """(the first row of each distinct series object, in order; for every row, the position of
    its series among them): rows given the same object share one pass over it."""
    first: dict[int, int] = {}
    firsts, idx = [], []
    for r, s in enumerate(series):
        if id(s) not in first:
            first[id(s)] = len(firsts)
            firsts.append(r)
        idx.append(first[id(s)])
    return firsts, idx


def left_padded(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences `[S_i, d]` -> `[B, S_max, d]` padded with zeros on the left, and their mask."""
    S = max(r.shape[0] for r in rows)
    embeds = torch.stack([F.pad(r, (0, 0, S - r.shape[0], 0)) for r in rows])
    mask = torch.stack([torch.arange(S, device=r.device) >= S - r.shape[0] for r in rows]).long()
    return embeds, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids `[B, S]` of a left-padded batch: 0 at each row's first token (pads: 0)."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


# ---- controls without a neural network ------------------------------------------------------------
def rolling(x: np.ndarray, w: int, fn) -> np.ndarray:
    """`fn` over every length-`w` window of `x` `[T]` (stride 1)."""
    return fn(np.lib.stride_tricks.sliding_window_view(x, w), axis=-1)


def window_statistics(series: np.ndarray) -> np.ndarray:
    """Hand-made features of a series `[T, N]`, per channel: the largest step and where, the
    largest change of an 8-step mean, the largest and smallest 8-step spread against the usual
    one and where, the fastest and slowest 8-step sign-change rate of the differences, and
    (N >= 2) the lowest 16-step correlation with the other channels' mean and where."""
    T, N = series.shape
    z = (series - series.mean(axis=0)) / (series.std(axis=0) + 1e-8)
    feats = []
    for c in range(N):
        x = z[:, c]
        d = np.diff(x)
        means = rolling(x, 8, np.mean)
        spread = rolling(x, 8, np.std)
        usual = np.median(spread) + 1e-8
        flips = rolling((np.sign(d[1:]) != np.sign(d[:-1])).astype(float), 8, np.mean)
        row = [np.abs(d).max(), np.abs(d).argmax() / T, np.abs(means[8:] - means[:-8]).max(),
               spread.max() / usual, spread.min() / usual, spread.argmax() / T, flips.max(), flips.min(),
               x[T // 2:].mean() - x[: T // 2].mean()]
        if N >= 2:
            others = np.delete(z, c, axis=1).mean(axis=1)
            a, b = (np.lib.stride_tricks.sliding_window_view(v, 16) for v in (x, others))
            a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
            corr = (a * b).sum(-1) / (np.sqrt((a * a).sum(-1) * (b * b).sum(-1)) + 1e-8)
            row += [corr.min(), corr.argmin() / T]
        feats += row
    return np.asarray(feats, dtype=np.float64)


class StatsForest:
    """The classical control: a random forest per question type over `window_statistics`."""

    def __init__(self, seed: int):
        self.seed, self.forests = seed, {}

    def fit(self, samples) -> "StatsForest":
        from sklearn.ensemble import RandomForestClassifier
        for q in sorted({s.qtype for s in samples}):
            part = [s for s in samples if s.qtype == q]
            X = np.stack([window_statistics(s.series) for s in part])
            self.forests[q] = RandomForestClassifier(300, random_state=self.seed, n_jobs=1).fit(X, [s.label for s in part])
        return self

    def predict_labels(self, samples) -> list[str]:
        return [str(self.forests[s.qtype].predict(window_statistics(s.series)[None])[0]) for s in samples]


class Majority:
    """The floor: the most frequent training label of each question type."""

    def fit(self, samples) -> "Majority":
        import collections
        self.labels = {q: collections.Counter(s.label for s in samples if s.qtype == q).most_common(1)[0][0]
                       for q in {s.qtype for s in samples}}
        return self

    def predict_labels(self, samples) -> list[str]:
        return [self.labels[s.qtype] for s in samples]


# ---- the registry's entries: reason.py --rs_model NAME ----------------------------------------------
@register_reasoner("tslm")
def _tslm(cfg, n_channels: int) -> TimeSeriesLM:
    """Encoder + projector + LLM, OpenTSLM's SoftPrompt (or the numbers as text, --rs_series_as_text)."""
    return TimeSeriesLM(cfg)


@register_reasoner("encoder_head")
def _encoder_head(cfg, n_channels: int) -> EncoderClassifier:
    return EncoderClassifier(cfg, label_sets(n_channels), n_channels)


@register_reasoner("stats_forest")
def _stats_forest(cfg, n_channels: int) -> StatsForest:
    return StatsForest(cfg.seed)


@register_reasoner("majority")
def _majority(cfg, n_channels: int) -> Majority:
    return Majority()
