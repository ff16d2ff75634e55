"""Metric vocabularies: which tokens carry a value, what the value is, and which tokens compete.

A *metric group* is a set of tokens that are interchangeable up to their value: the model may trade
one member for another and a metric loss tells it how far off that trade is. Groups are kept apart
on purpose:

* digit tokens are grouped by **width** (Llama-3 writes 1-3 digits per token; "7", "07" and "007"
  have the same value but produce different numbers, so they never compete) and by **prefix**
  ("▁7" / "Ġ7" carry a space: letting them compete with "7" would teach the model to drop spaces);
* PaliGemma ``<locNNNN>`` bins (value NNNN);
* a user value map (token -> value, e.g. rating words or action bins);
* a codebook (tokens + embedding vectors; the distance is between embeddings).

Digit groups are *positional*: consecutive positional tokens form one number with place values
(see :mod:`metricsft.spans`). The other groups are standalone values.

The tokenizer is only read, never modified.

>>> vocab = build_metric_vocab(tokenizer)                                 # doctest: +SKIP
>>> vocab.summary()["groups"][0]                                           # doctest: +SKIP
{'name': 'digits/w1', 'size': 10, 'positional': True, 'unit': 1.0}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from .scope import MetricScope

# Space markers that tokenizers glue onto a word: SentencePiece, byte-level BPE, plain.
SPACE_PREFIXES: tuple[str, ...] = ("▁", "Ġ", " ")
_LOC_TOKEN = re.compile(r"^<loc(\d{4})>$")
KNOWN_METRICS: tuple[str, ...] = ("digits", "loc")


@dataclass
class MetricGroup:
    """One set of competing tokens.

    ``unit`` converts value differences into "digit units" for the distance-weighted terms (EMD,
    NTL): a width-3 token's leading digit is worth 100, so ``|499-500| / 100`` is a hundredth of a
    digit step; a 1024-bin location token spans the same 0..9 range as one digit.
    """

    name: str
    token_ids: list[int]
    values: list[float]
    positional: bool = False
    width: int = 1
    unit: float = 1.0
    embeddings: torch.Tensor | None = None  # [K, D] for codebook groups
    distance: str = "absolute"  # "absolute" for value groups; "mse" | "cosine" for codebooks
    tau: float | None = None  # codebook temperature chosen by entropy matching

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass
class CodebookMetric:
    """Tokens whose distance is measured between embedding vectors (e.g. VQ codebook tokens).

    ``tau="auto"`` picks the DIST2 temperature by entropy matching (see :func:`entropy_matched_tau`).
    """

    token_ids: Sequence[int]
    embeddings: torch.Tensor
    distance: str = "mse"
    tau: float | str = "auto"


@dataclass
class _DeviceTables:
    group_of: torch.Tensor  # [V] int64, -1 for non-metric tokens
    slot_of: torch.Tensor  # [V] int64, index inside the group
    width_of: torch.Tensor  # [V] int64, digits per token for positional tokens, else 0
    value_of: torch.Tensor  # [V] float64
    prefixed: torch.Tensor  # [V] bool, token starts with a space marker
    is_dot: torch.Tensor  # [V] bool
    is_minus: torch.Tensor  # [V] bool
    group_cols: torch.Tensor  # [G, Gmax] int64 token ids, padded with 0
    group_valid: torch.Tensor  # [G, Gmax] bool
    group_values: torch.Tensor  # [G, Gmax] float64
    group_unit: torch.Tensor  # [G] float64
    group_positional: torch.Tensor  # [G] bool
    group_is_codebook: torch.Tensor  # [G] bool


@dataclass
class MetricVocab:
    """Token -> value tables for one tokenizer. Build it with :func:`build_metric_vocab`."""

    groups: list[MetricGroup]
    vocab_size: int
    dot_ids: list[int] = field(default_factory=list)
    minus_ids: list[int] = field(default_factory=list)
    prefixed_ids: list[int] = field(default_factory=list)
    scope: MetricScope = field(default_factory=MetricScope)  # which numbers the metric term sees
    _cache: dict[str, _DeviceTables] = field(default_factory=dict, repr=False)

    @property
    def codebook(self) -> MetricGroup | None:
        return next((g for g in self.groups if g.embeddings is not None), None)

    def tables(self, device: torch.device | str) -> _DeviceTables:
        """Lookup tensors on ``device`` (built once per device, then reused)."""
        key = str(torch.device(device))
        if key not in self._cache:
            self._cache[key] = self._build_tables(torch.device(device))
        return self._cache[key]

    def _build_tables(self, device: torch.device) -> _DeviceTables:
        v = self.vocab_size
        group_of = torch.full((v,), -1, dtype=torch.long)
        slot_of = torch.zeros(v, dtype=torch.long)
        width_of = torch.zeros(v, dtype=torch.long)
        value_of = torch.zeros(v, dtype=torch.float64)
        gmax = max((len(g) for g in self.groups), default=1)
        cols = torch.zeros(len(self.groups), gmax, dtype=torch.long)
        valid = torch.zeros(len(self.groups), gmax, dtype=torch.bool)
        values = torch.zeros(len(self.groups), gmax, dtype=torch.float64)
        for gi, group in enumerate(self.groups):
            ids = torch.tensor(group.token_ids, dtype=torch.long)
            vals = torch.tensor(group.values, dtype=torch.float64)
            group_of[ids] = gi
            slot_of[ids] = torch.arange(len(ids))
            value_of[ids] = vals
            if group.positional:
                width_of[ids] = group.width
            cols[gi, : len(ids)] = ids
            valid[gi, : len(ids)] = True
            values[gi, : len(ids)] = vals

        def mask(ids: list[int]) -> torch.Tensor:
            out = torch.zeros(v, dtype=torch.bool)
            out[torch.tensor(ids, dtype=torch.long)] = True
            return out

        return _DeviceTables(
            group_of=group_of.to(device),
            slot_of=slot_of.to(device),
            width_of=width_of.to(device),
            value_of=value_of.to(device),
            prefixed=mask(self.prefixed_ids).to(device),
            is_dot=mask(self.dot_ids).to(device),
            is_minus=mask(self.minus_ids).to(device),
            group_cols=cols.to(device),
            group_valid=valid.to(device),
            group_values=values.to(device),
            group_unit=torch.tensor([g.unit for g in self.groups], dtype=torch.float64, device=device),
            group_positional=torch.tensor([g.positional for g in self.groups], dtype=torch.bool, device=device),
            group_is_codebook=torch.tensor([g.embeddings is not None for g in self.groups], dtype=torch.bool, device=device),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description (logged into ``metricsft_config.json``)."""
        return {
            "vocab_size": self.vocab_size,
            "groups": [
                {"name": g.name, "size": len(g), "positional": g.positional, "unit": g.unit}
                | ({"distance": g.distance, "tau": g.tau} if g.embeddings is not None else {})
                for g in self.groups
            ],
            "metric_tokens": sum(len(g) for g in self.groups),
            "scope": self.scope.spec,
        }


def _split_prefix(token: str) -> tuple[str, str]:
    for prefix in SPACE_PREFIXES:
        if token.startswith(prefix) and len(token) > len(prefix):
            return prefix, token[len(prefix) :]
    return "", token


def _tokenizer_vocab(tokenizer: Any) -> dict[str, int]:
    vocab = dict(tokenizer.get_vocab())
    # Added tokens (e.g. <locNNNN> added to a Gemma tokenizer) are in get_vocab() for fast and slow
    # tokenizers alike; nothing else to merge.
    return {tok: idx for tok, idx in vocab.items() if isinstance(tok, str)}


def _digit_groups(vocab: Mapping[str, int]) -> list[MetricGroup]:
    buckets: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for token, idx in vocab.items():
        prefix, body = _split_prefix(token)
        if body.isascii() and body.isdigit():
            buckets.setdefault((prefix, len(body)), []).append((int(body), idx))
    groups = []
    for (prefix, width), members in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        members.sort()
        name = f"digits/w{width}" + (f"/{prefix!r}" if prefix else "")
        groups.append(
            MetricGroup(
                name=name,
                token_ids=[idx for _, idx in members],
                values=[float(value) for value, _ in members],
                positional=True,
                width=width,
                unit=float(10 ** (width - 1)),
            )
        )
    return groups


def _check_digits_known(tokenizer: Any, groups: list[MetricGroup]) -> None:
    """Refuse tokenizers without plain digit tokens: every number would be <unk>."""
    plain = next((g for g in groups if g.name == "digits/w1"), None)
    have = {int(v) for v in plain.values} if plain else set()
    missing = sorted(set(range(10)) - have)
    if missing:
        unk = getattr(tokenizer, "unk_token", None)
        raise ValueError(
            f"tokenizer {type(tokenizer).__name__} has no token for the digit(s) {missing} "
            f"(they map to the unknown token {unk!r}); metric losses need one token per digit 0-9. "
            "Use a tokenizer whose vocabulary contains the digits, or drop 'digits' from metric_loss_args.metrics."
        )


LOC_GRID_MAX = 1023.0


def _loc_group(vocab: Mapping[str, int]) -> MetricGroup:
    members = sorted((int(m.group(1)), idx) for tok, idx in vocab.items() if (m := _LOC_TOKEN.match(tok)))
    if not members:
        raise ValueError(
            "metric 'loc' needs PaliGemma location tokens <loc0000>..<loc1023>, but the tokenizer has none; "
            "use the PaliGemma tokenizer or remove 'loc' from metric_loss_args.metrics"
        )
    values = [float(v) for v, _ in members]
    return MetricGroup(
        name="loc",
        token_ids=[idx for _, idx in members],
        values=values,
        # The <loc> grid is 0..1023 whatever subset a tokenizer carries: one digit step = 1023/9.
        unit=LOC_GRID_MAX / 9.0,
    )


def load_value_map(value_map: Mapping[str, float] | str | Path) -> dict[str, float]:
    """Read a token -> value map from a dict or a JSON file (``{"<bad>": 0, "<ok>": 1, ...}``)."""
    if isinstance(value_map, (str, Path)):
        path = Path(value_map)
        if not path.is_file():
            raise FileNotFoundError(f"metric_loss_args.value_map: no such JSON file {str(path)!r}")
        with open(path, encoding="utf-8") as handle:
            value_map = json.load(handle)
    if not isinstance(value_map, Mapping) or not value_map:
        raise ValueError("metric_loss_args.value_map must be a non-empty JSON object mapping token -> number")
    out = {}
    for token, value in value_map.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"metric_loss_args.value_map[{token!r}] = {value!r}: expected a finite number")
        out[str(token)] = float(value)
    return out


def _value_map_group(vocab: Mapping[str, int], value_map: Mapping[str, float]) -> MetricGroup:
    missing = [tok for tok in value_map if tok not in vocab]
    if missing:
        raise ValueError(
            f"metric_loss_args.value_map names tokens the tokenizer does not have: {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; each key must be one exact token string"
        )
    items = sorted((value, vocab[tok]) for tok, value in value_map.items())
    values = [v for v, _ in items]
    return MetricGroup(
        name="values",
        token_ids=[idx for _, idx in items],
        values=values,
        unit=max((values[-1] - values[0]) / 9.0, 1e-12) if len(values) > 1 else 1.0,
    )


def _score_range_group(vocab: Mapping[str, int], score_range: Sequence[int]) -> MetricGroup:
    """One ordered group of the plain tokens that spell each whole number lo..hi (e.g. scores 0-20).

    Llama-3 writes 0-999 as single tokens grouped by width, so without this "9" and "10" never
    compete. Tokenizers that split numbers into digits cannot hold such a group: refused, since
    their place-value digits already order the scores.
    """
    if (
        not isinstance(score_range, Sequence) or isinstance(score_range, str) or len(score_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in score_range) or score_range[0] >= score_range[1]
    ):
        raise ValueError(f"metric_loss_args.score_range must be [low, high] with integers low < high; got {score_range!r}")
    low, high = score_range
    missing = [v for v in range(low, high + 1) if str(v) not in vocab]
    if missing:
        raise ValueError(
            f"metric_loss_args.score_range {list(score_range)}: the tokenizer has no single token for {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}; it writes those scores digit by digit, and its digit groups already "
            "order them by place value: drop score_range for this tokenizer"
        )
    values = list(range(low, high + 1))
    return MetricGroup(
        name=f"scores/{low}-{high}",
        token_ids=[vocab[str(v)] for v in values],
        values=[float(v) for v in values],
        unit=max((high - low) / 9.0, 1.0),
    )


def embedding_distances(embeddings: torch.Tensor, targets: torch.Tensor, distance: str) -> torch.Tensor:
    """Distances between every codebook embedding and the embeddings at ``targets`` -> [len(targets), K]."""
    emb = embeddings.to(torch.float64 if embeddings.dtype == torch.float64 else torch.float32)
    tgt = emb[targets]
    if distance == "mse":
        return torch.cdist(tgt, emb).pow(2) / emb.shape[1]
    if distance == "cosine":
        normed = torch.nn.functional.normalize(emb, dim=-1)
        return 1.0 - normed[targets] @ normed.T
    raise ValueError(f"codebook distance {distance!r} is not one of 'mse', 'cosine'")


def _mean_entropy(dist: torch.Tensor, tau: float) -> float:
    logp = torch.log_softmax(-dist / tau, dim=-1)
    return float(-(logp.exp() * logp).sum(-1).mean())


def entropy_matched_tau(dist: torch.Tensor, reference_dist: torch.Tensor, reference_tau: float = 1.0) -> float:
    """Temperature for ``softmax(-dist / tau)`` whose mean entropy matches a reference metric.

    The reference is the digit metric at its own temperature (squared distance over 0..9, tau 1):
    a codebook target is then exactly as "soft" as a digit target, whatever the scale of the
    embedding distances. Found by bisection on log(tau) (entropy grows monotonically with tau).

    >>> d = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> round(entropy_matched_tau(d * 10, d, 1.0), 3)
    10.0
    """
    target = _mean_entropy(reference_dist, reference_tau)
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _mean_entropy(dist, math.exp(mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def _codebook_group(codebook: CodebookMetric, vocab_size: int) -> MetricGroup:
    ids = [int(i) for i in codebook.token_ids]
    emb = torch.as_tensor(codebook.embeddings).detach()
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise ValueError(
            f"codebook embeddings must have shape [len(token_ids)={len(ids)}, dim]; got {tuple(emb.shape)}"
        )
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"codebook token ids {bad[:10]} are outside the tokenizer's vocabulary (size {vocab_size})")
    tau = codebook.tau
    if tau == "auto":
        digits = torch.arange(10, dtype=torch.float64)
        reference = (digits[:, None] - digits[None, :]) ** 2
        sample = torch.arange(len(ids))[:: max(1, len(ids) // 512)]  # entropy of a subsample is enough
        tau = entropy_matched_tau(embedding_distances(emb.double(), sample, codebook.distance), reference)
    elif not isinstance(tau, (int, float)) or tau <= 0:
        raise ValueError(f"codebook tau must be a positive number or 'auto'; got {tau!r}")
    return MetricGroup(
        name="codebook", token_ids=ids, values=[0.0] * len(ids), embeddings=emb, distance=codebook.distance, tau=float(tau)
    )


def build_metric_vocab(
    tokenizer: Any,
    metrics: Iterable[str] = ("digits",),
    value_map: Mapping[str, float] | str | Path | None = None,
    codebook: CodebookMetric | None = None,
    score_range: Sequence[int] | None = None,
    scope: MetricScope | None = None,
) -> MetricVocab:
    """Scan a Hugging Face tokenizer (never modified) and build the metric groups.

    ``metrics`` picks the built-in kinds: ``"digits"`` (single and multi-digit number tokens, with
    their space-prefixed forms) and ``"loc"`` (PaliGemma location bins). ``value_map`` adds a user
    token -> value group and ``codebook`` an embedding-distance group. ``score_range=[0, 20]`` makes
    the single tokens "0".."20" one ordered standalone group (they leave the digit groups), and
    ``scope`` (see :mod:`metricsft.scope`) narrows the metric term to some numbers.

    >>> vocab = build_metric_vocab(tokenizer, metrics=["digits", "loc"])     # doctest: +SKIP
    """
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in KNOWN_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} in metric_loss_args.metrics; valid: {list(KNOWN_METRICS)}")
    vocab = _tokenizer_vocab(tokenizer)
    vocab_size = max(max(vocab.values()) + 1, len(tokenizer))
    groups: list[MetricGroup] = []
    if "digits" in metrics:
        digit_groups = _digit_groups(vocab)
        _check_digits_known(tokenizer, digit_groups)
        groups += digit_groups
    if score_range is not None:
        scores = _score_range_group(vocab, score_range)
        taken = set(scores.token_ids)
        groups = [_without(group, taken) for group in groups]
        groups = [group for group in groups if len(group)] + [scores]
    if "loc" in metrics:
        groups.append(_loc_group(vocab))
    if value_map is not None:
        groups.append(_value_map_group(vocab, load_value_map(value_map)))
    if codebook is not None:
        groups.append(_codebook_group(codebook, vocab_size))
    if not groups:
        raise ValueError("no metric tokens selected: give metrics=['digits'] (default), 'loc', a value_map or a codebook")
    seen: dict[int, str] = {}
    for group in groups:
        for idx in group.token_ids:
            if idx in seen:
                raise ValueError(f"token id {idx} belongs to two metric groups ({seen[idx]!r} and {group.name!r})")
            seen[idx] = group.name
    dot_ids = [idx for tok, idx in vocab.items() if tok == "."]
    minus_ids = [idx for tok, idx in vocab.items() if _split_prefix(tok)[1] == "-"]
    prefixed_ids = [idx for tok, idx in vocab.items() if _split_prefix(tok)[0]]
    return MetricVocab(
        groups=groups, vocab_size=vocab_size, dot_ids=dot_ids, minus_ids=minus_ids, prefixed_ids=prefixed_ids,
        scope=scope if scope is not None else MetricScope(),
    )


def _without(group: MetricGroup, token_ids: set[int]) -> MetricGroup:
    """``group`` minus ``token_ids`` (the score tokens leave their digit groups)."""
    keep = [i for i, idx in enumerate(group.token_ids) if idx not in token_ids]
    if len(keep) == len(group.token_ids):
        return group
    return MetricGroup(
        name=group.name, token_ids=[group.token_ids[i] for i in keep], values=[group.values[i] for i in keep],
        positional=group.positional, width=group.width, unit=group.unit,
    )
