"""A realistic spend history for the fake's account: many models, days of requests, top-ups.

Deterministic for a seed. Requests spread over the window with a daytime peak; each model has
a price per token (chat) or per call (images, video, audio: no tokens); a share of requests
fail (a log row with cost 0, no ledger entry); the balance is topped up (``TOPUP``/``PAYMENT``)
whenever it would fall below the auto top-up threshold, and now and then a ``BONUS`` arrives or
credits expire (``CHARGE``/``CREDITS_EXPIRED``). Fast enough for 100,000 requests in a few
seconds: everything is drawn in bulk, then merged into the account's sorted lists once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from airflow_aimlapi.testing._account import Account, ApiKey
from airflow_aimlapi.testing._entries import LedgerEntry, LogRow, random_id, random_uuid, usd_to_nanos

#: (model, USD per input token, USD per output token, USD per call). Prices are plausible, not real.
MODELS: tuple[tuple[str, float, float, float], ...] = (
    ("openai/gpt-5", 1.25e-6, 10e-6, 0.0),
    ("openai/gpt-5-mini", 0.25e-6, 2e-6, 0.0),
    ("openai/gpt-4o", 2.5e-6, 10e-6, 0.0),
    ("anthropic/claude-sonnet-4", 3e-6, 15e-6, 0.0),
    ("anthropic/claude-haiku-4", 0.8e-6, 4e-6, 0.0),
    ("google/gemini-2.5-pro", 1.25e-6, 10e-6, 0.0),
    ("google/gemini-2.5-flash", 0.3e-6, 2.5e-6, 0.0),
    ("meta-llama/llama-4-maverick", 0.2e-6, 0.6e-6, 0.0),
    ("mistralai/mistral-large", 2e-6, 6e-6, 0.0),
    ("deepseek/deepseek-chat", 0.27e-6, 1.1e-6, 0.0),
    ("qwen/qwen3-235b", 0.2e-6, 0.6e-6, 0.0),
    ("flux/schnell", 0.0, 0.0, 0.003),
    ("openai/dall-e-3", 0.0, 0.0, 0.04),
    ("google/veo-3", 0.0, 0.0, 0.75),
    ("elevenlabs/eleven_multilingual_v2", 0.0, 0.0, 0.012),
)
#: How often each model above is called, relative to the others.
_WEIGHTS = (30, 40, 10, 15, 12, 8, 25, 6, 3, 10, 5, 6, 2, 0.3, 2)


@dataclass(frozen=True)
class HistorySummary:
    """What :func:`generate` added.

    :param requests: Log rows added (succeeded and failed).
    :param failed: Of those, failed.
    :param ledger_entries: Ledger entries added (charges, top-ups, bonuses, expiries).
    :param start: Window start, epoch milliseconds.
    :param end: Window end, epoch milliseconds.
    """

    requests: int
    failed: int
    ledger_entries: int
    start: int
    end: int


def generate(
    account: Account,
    *,
    requests: int,
    start_ms: int,
    end_ms: int,
    keys: Sequence[ApiKey],
    seed: int = 0,
    models: Sequence[str] | None = None,
    failure_rate: float = 0.03,
    top_up_threshold: float = 10.0,
    top_up_amount: float = 50.0,
    client_ids: Sequence[str] | None = None,
) -> HistorySummary:
    """Add ``requests`` requests in ``[start_ms, end_ms)`` and the ledger entries they imply.

    :param account: The account to add to.
    :param requests: How many requests (log rows).
    :param start_ms: Window start, epoch milliseconds.
    :param end_ms: Window end (exclusive).
    :param keys: The keys that make the requests (the first makes half of them).
    :param seed: Makes the history reproducible.
    :param models: Model names to use (per-call price 0.002 USD for names not in :data:`MODELS`);
        ``None`` for all of :data:`MODELS`.
    :param failure_rate: Share of requests that fail.
    :param top_up_threshold: A payment tops the balance up when it would fall below this (USD).
    :param top_up_amount: The payment's amount (USD).
    :param client_ids: ``X-Client-Request-Id`` values to draw from for the requests that send one
        (such as Airflow task ids from :mod:`airflow_aimlapi.tracing`); ``None``: made-up ones.
    """
    if requests < 0 or end_ms <= start_ms or not keys:
        raise ValueError("history: requests >= 0, end after start, and at least one key")
    if not 0 <= failure_rate <= 1:
        raise ValueError("failure_rate: from 0 to 1")
    if top_up_amount <= 0:
        raise ValueError("top_up_amount: positive")
    rng = random.Random(seed)
    known = {m[0]: m for m in MODELS}
    table = [known.get(name, (name, 0.0, 0.0, 0.002)) for name in models] if models else list(MODELS)
    weights = [_WEIGHTS[MODELS.index(m)] if m in MODELS else 5.0 for m in table]
    span = end_ms - start_ms
    # A daytime peak: draw uniformly, then keep night-time draws only half the time.
    times: list[int] = []
    while len(times) < requests:
        for _ in range(requests - len(times)):
            at = start_ms + int(rng.random() * span)
            hour = (at // 3_600_000) % 24
            if 7 <= hour <= 21 or rng.random() < 0.5:
                times.append(at)
    times.sort()
    picks = rng.choices(table, weights=weights, k=requests)
    key_weights = [len(keys)] + [1] * (len(keys) - 1)
    who = rng.choices(list(keys), weights=key_weights, k=requests)
    threshold = usd_to_nanos(top_up_threshold)
    amount = usd_to_nanos(top_up_amount)
    balance = account.balance_nanos
    entries: list[LedgerEntry] = []
    rows: list[LogRow] = []
    failed = 0
    gauss = rng.gauss
    exp = math.exp
    for at, (model, per_in, per_out, per_call), key in zip(times, picks, who, strict=True):
        ok = rng.random() >= failure_rate
        if per_call:
            tokens_in = tokens_out = 0
            usd = per_call * (0.5 + rng.random())
        else:
            tokens_in = int(exp(gauss(6.5, 1.0)))
            tokens_out = int(exp(gauss(5.5, 1.0))) if ok else 0
            usd = tokens_in * per_in + tokens_out * per_out
        nanos = max(1, round(usd * 1e9)) if ok else 0
        inference_id = random_id(rng)
        client_id = f"airflow:{seed}:{len(rows)}" if rng.random() < 0.6 else None
        if client_id is not None and client_ids:
            client_id = client_ids[len(rows) % len(client_ids)]
        origin = "api" if rng.random() < 0.98 else "playground"
        row = LogRow(
            at,
            account.next_seq(),
            key.prefix,
            "succeeded" if ok else "failed",
            origin,
            model,
            nanos,
            tokens_in,
            tokens_out,
            random_uuid(rng) if rng.random() < 0.97 else None,
            inference_id,
            client_id,
        )
        rows.append(row)
        if not ok:
            failed += 1
            continue
        if balance - nanos < threshold:
            # Auto top-up just before the charge that would cross the threshold.
            topup = amount * max(1, math.ceil((threshold + nanos - balance) / amount))
            entries.append(
                LedgerEntry(
                    at, account.next_seq(), "TOPUP", "PAYMENT", topup, None, "pi_" + random_id(rng, 24)
                )
            )
            balance += topup
        charge = LedgerEntry(at, account.next_seq(), "CHARGE", "MODEL_USAGE", nanos, model, inference_id)
        entries.append(charge)
        balance -= nanos
        extra = rng.random()
        if extra < 0.0005:
            bonus = usd_to_nanos(5.0)
            entries.append(LedgerEntry(at, account.next_seq(), "TOPUP", "BONUS", bonus, None, None))
            balance += bonus
        elif extra < 0.0007 and balance > threshold + usd_to_nanos(1.0):
            expired = usd_to_nanos(1.0)
            entries.append(
                LedgerEntry(at, account.next_seq(), "CHARGE", "CREDITS_EXPIRED", expired, None, None)
            )
            balance -= expired
    account.add_history(entries, rows)
    return HistorySummary(len(rows), failed, len(entries), start_ms, end_ms)
