"""The metric positions of a batch, gathered once: K rows x (their group's) candidate columns.

Every loss term works on this small block — ``K x Gmax`` logits, K = number of supervised metric
tokens, Gmax = size of the largest metric group (10 for digits, 1000 for Llama-3's 3-digit tokens,
1024 for PaliGemma bins) — never on full-vocabulary rows. Rows of smaller groups are padded; the
``valid`` mask says which columns are real.

>>> targets = gather_metric_targets(labels, vocab)                      # doctest: +SKIP
>>> targets.rows.shape, targets.cols.shape                              # doctest: +SKIP
(torch.Size([12]), torch.Size([12, 10]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..scope import scope_mask
from ..spans import NumberSpans, number_spans, sequence_starts
from ..vocab import MetricVocab, embedding_distances

# Stand-in for -inf at padded columns: exp() gives exactly 0, but unlike -inf it never produces
# NaN through 0 * inf in a backward pass.
NEG = -1e30


@dataclass
class MetricTargets:
    vocab: MetricVocab
    spans: NumberSpans
    rows: torch.Tensor  # [K] flat positions (into B*T) whose label is a metric token
    group: torch.Tensor  # [K] group index
    slot: torch.Tensor  # [K] index of the label inside its group
    cols: torch.Tensor  # [K, G] candidate token ids
    valid: torch.Tensor  # [K, G] bool
    values: torch.Tensor  # [K, G] float64 candidate values
    target_value: torch.Tensor  # [K] float64
    unit: torch.Tensor  # [K] float64 value of one "digit step" in this group
    positional: torch.Tensor  # [K] bool: part of a place-value number
    number_id: torch.Tensor  # [K] int64 (0 where not positional; use ``positional``)
    place: torch.Tensor  # [K] int64
    digits_right: torch.Tensor  # [K] int64
    codebook_rows: torch.Tensor  # [K] bool
    number_in_scope: torch.Tensor  # [N] bool per number: it exists and the scope keeps it
    batch_size: int = 1
    seq_len: int = 1
    # Set by the loss driver before the term runs: the CE normaliser (num_items_in_batch or the
    # supervised-token count). Only the ``sequence`` reduction needs it.
    normaliser: torch.Tensor | None = None

    @property
    def count(self) -> int:
        return self.rows.shape[0]

    def require_normaliser(self) -> torch.Tensor:
        if self.normaliser is None:
            raise ValueError("MetricTargets.normaliser is not set; the loss driver must set it before calling a term")
        return self.normaliser

    def number_sequence(self) -> torch.Tensor:
        """[N] int64 the batch row of each number (0 where no number)."""
        n = self.number_in_scope.shape[0]
        sequence = torch.div(self.rows, self.seq_len, rounding_mode="floor")
        out = torch.zeros(n + 1, dtype=torch.long, device=self.rows.device)
        out.scatter_(0, torch.where(self.positional, self.number_id, torch.full_like(self.number_id, n)), sequence)
        return out[:n]

    def _with_codebook(self, value_distance: torch.Tensor) -> torch.Tensor:
        codebook = self.vocab.codebook
        if codebook is None:
            return value_distance
        # Only for opt-in codebooks: a boolean index here syncs once with the device.
        idx = self.codebook_rows.nonzero().squeeze(1)
        emb = codebook.embeddings.to(value_distance.device)
        d = embedding_distances(emb, self.slot[idx], codebook.distance).to(value_distance.dtype)
        out = value_distance.clone()
        out[idx, : d.shape[1]] = d
        return out

    def unit_distance(self) -> torch.Tensor:
        """[K, G] |v - y| in digit units (embedding distance for codebook rows); 0 at padding."""
        d = (self.values - self.target_value[:, None]).abs() / self.unit[:, None]
        return torch.where(self.valid, self._with_codebook(d), torch.zeros_like(d))

    def value_distance(self, power: float) -> torch.Tensor:
        """[K, G] |v - y| ** power in raw value units (embedding distance for codebook rows)."""
        d = (self.values - self.target_value[:, None]).abs().pow(power)
        return torch.where(self.valid, self._with_codebook(d), torch.zeros_like(d))

    def place_weights(self, sigma: float, max_exponent: int) -> torch.Tensor:
        """[K] (1 + sigma) ** (digits to the right), capped so 1000-digit runs stay finite."""
        exponent = self.digits_right.clamp(max=max_exponent).double()
        w = torch.pow(1.0 + sigma, exponent)  # a scalar base: no host-to-device copy (a stall on GPU)
        return torch.where(self.positional, w, torch.ones_like(w))


def gather_metric_targets(
    labels: torch.Tensor, vocab: MetricVocab, position_ids: torch.Tensor | None = None
) -> MetricTargets:
    """Locate the metric tokens of ``labels`` ([B, T], shifted) and their candidate columns."""
    tables = vocab.tables(labels.device)
    spans = number_spans(labels, vocab, position_ids)
    flat = labels.reshape(-1)
    in_vocab = (flat >= 0) & (flat < vocab.vocab_size)
    safe = torch.where(in_vocab, flat, torch.zeros_like(flat))
    is_metric = in_vocab & (tables.group_of[safe] >= 0)
    number_in_scope = spans.number_exists
    if vocab.scope.kind != "all":
        starts = sequence_starts(labels, position_ids)
        is_metric = is_metric & scope_mask(labels, vocab.scope, starts, is_metric, spans.number_id)
        # A number is in scope when its tokens are (markers never split a number).
        n = flat.numel()
        kept = torch.zeros(n + 1, dtype=torch.bool, device=flat.device)
        kept.scatter_(0, torch.where(is_metric & spans.positional, spans.number_id, torch.full_like(flat, n)), True)
        number_in_scope = number_in_scope & kept[:n]
    rows = is_metric.nonzero().squeeze(1)  # the one host sync: K decides the block's shape
    label = flat[rows]
    group = tables.group_of[label]
    slot = tables.slot_of[label]
    values = tables.group_values[group]
    positional = spans.positional[rows]
    return MetricTargets(
        vocab=vocab,
        spans=spans,
        rows=rows,
        group=group,
        slot=slot,
        cols=tables.group_cols[group],
        valid=tables.group_valid[group],
        values=values,
        target_value=values.gather(1, slot[:, None]).squeeze(1),
        unit=tables.group_unit[group],
        positional=positional,
        number_id=torch.where(positional, spans.number_id[rows], torch.zeros_like(rows)),
        place=spans.place[rows],
        digits_right=spans.digits_right[rows],
        codebook_rows=tables.group_is_codebook[group],
        number_in_scope=number_in_scope,
        batch_size=labels.shape[0],
        seq_len=labels.shape[1],
    )
