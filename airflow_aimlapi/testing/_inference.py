"""The fake's one inference endpoint: an OpenAI-style ``POST /v1/chat/completions`` that bills.

Token counts are deterministic: the input tokens are the words (white-space separated) of the
messages' text, the output tokens are ``max_tokens`` (16 when not given). The price comes from the
history's model table (per token, or per call for models billed per call), and the call is recorded
through the account's one charge path, so balance, ledger, usage and logs stay in agreement.

As the API documents: ``X-Client-Request-Id`` is kept when it is 1-128 characters of
``A-Z a-z 0-9 . _ : -`` and silently dropped otherwise (the call still runs and is billed); the
answer carries ``x-inference-id`` always, ``x-client-request-id`` when a valid one was sent,
``x-aimlapi-credits-used`` (integer credits) and ``x-aimlapi-usd-spent`` (USD, 9 decimals).

Standard library only: the fake must start without Airflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_aimlapi.testing._entries import NANOS_PER_USD, nanos_to_credits, nanos_to_usd, usd_to_nanos
from airflow_aimlapi.testing._history import MODELS

if TYPE_CHECKING:
    from airflow_aimlapi.testing._account import ApiKey
    from airflow_aimlapi.testing.fake_api import FakeAimlApi

#: The OpenAI-compatible chat endpoint (the SDK's ``base_url`` is ``<API root>/v1``).
CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
#: Output tokens of a call that does not say ``max_tokens``.
DEFAULT_MAX_TOKENS = 16
#: Prices by model: (USD per input token, USD per output token, USD per call).
PRICES: dict[str, tuple[float, float, float]] = {name: (i, o, c) for name, i, o, c in MODELS}

Answer = tuple[int, dict[str, Any], dict[str, str]]


def _error(status: int, message: str) -> Answer:
    # OpenAI's error shape, which the SDK reads.
    return status, {"error": {"message": message, "type": "invalid_request_error", "code": None}}, {}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def count_input_tokens(messages: list[Any]) -> int:
    """Return the fake's input tokens of a chat: the words of the messages' text.

    :param messages: The request's ``messages``.
    """
    return sum(len(_text(m.get("content")).split()) for m in messages if isinstance(m, dict))


def price_nanos(model: str, input_tokens: int, output_tokens: int) -> int:
    """Return what the fake charges for one call, in nano-dollars.

    :param model: A model of :data:`PRICES`.
    :param input_tokens: Input tokens.
    :param output_tokens: Output tokens.
    """
    per_input, per_output, per_call = PRICES[model]
    return usd_to_nanos(input_tokens * per_input + output_tokens * per_output + per_call)


def usd_text(nanos: int) -> str:
    """Return nano-dollars as the ``x-aimlapi-usd-spent`` header writes them (``0.001240000``).

    :param nanos: An amount in nano-dollars.
    """
    return f"{nanos // NANOS_PER_USD}.{nanos % NANOS_PER_USD:09d}"


def _check_request(request: Any) -> Answer | None:
    """Return the refusal of a chat request the fake cannot answer, or ``None`` when it can."""
    if not isinstance(request, dict):
        return _error(400, "The body must be a JSON object.")
    model, messages = request.get("model"), request.get("messages")
    if not isinstance(model, str) or model not in PRICES:
        return _error(404, f"The model {model!r} does not exist.")
    if not isinstance(messages, list) or not messages:
        return _error(400, "'messages' must be a non-empty list.")
    if request.get("stream"):
        # Streamed calls are in the API's logs (cost in the last SSE chunk); the fake does not stream.
        return _error(400, "The fake does not stream; send stream=false.")
    max_tokens = request.get("max_tokens", request.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return _error(400, "'max_tokens' must be a positive integer.")
    return None


def chat_completion(api: FakeAimlApi, caller: ApiKey, body: bytes, client_request_id: str | None) -> Answer:
    """Answer one chat completion: bill it, record it, return status, JSON body and headers.

    :param api: The fake.
    :param caller: The key that called.
    :param body: The request body (JSON).
    :param client_request_id: The ``X-Client-Request-Id`` header as sent, or ``None``.
    """
    try:
        request = json.loads(body or b"null")
    except ValueError:
        request = None
        refusal: Answer | None = _error(400, "The body is not valid JSON.")
    else:
        refusal = _check_request(request)
    if refusal is not None:
        # The API logs a refused call too, failed and at no cost, under the caller's id.
        model = request.get("model") if isinstance(request, dict) else None
        api.charge(
            model if isinstance(model, str) and model else "unknown",
            0.0,
            client_request_id=client_request_id,
            key=caller.key,
            status="failed",
        )
        return refusal
    model, messages = request["model"], request["messages"]
    max_tokens = request.get("max_tokens", request.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    input_tokens = count_input_tokens(messages)
    nanos = price_nanos(model, input_tokens, max_tokens)
    row = api.charge(
        model,
        nanos_to_usd(nanos),
        input_tokens=input_tokens,
        output_tokens=max_tokens,
        client_request_id=client_request_id,
        key=caller.key,
    )
    nanos = usd_to_nanos(row["cost"]["usd"])  # what was recorded is what the headers say
    headers = {
        "x-inference-id": row["inference_id"],
        "x-aimlapi-credits-used": str(nanos_to_credits(nanos)),
        "x-aimlapi-usd-spent": usd_text(nanos),
    }
    if row["client_request_id"] is not None:
        headers["x-client-request-id"] = row["client_request_id"]
    answer = {
        "id": f"chatcmpl-{row['inference_id']}",
        "object": "chat.completion",
        "created": int(api._account.now_ms() // 1000),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(["word"] * max_tokens)},
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": max_tokens,
            "total_tokens": input_tokens + max_tokens,
        },
    }
    return 200, answer, headers
