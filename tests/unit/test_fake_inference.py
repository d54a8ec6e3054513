"""The fake's POST /v1/chat/completions over HTTP: billed per token, cost and id headers, one account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing._inference import PRICES, price_nanos, usd_text


def _post(fake: FakeAimlApi, body: object, **headers: str) -> requests.Response:
    headers.setdefault("Authorization", f"Bearer {fake.api_key}")
    return requests.post(f"{fake.url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def _chat(
    model: str = "openai/gpt-5-mini", words: str = "one two three", max_tokens: int = 5
) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": words}], "max_tokens": max_tokens}


def test_a_call_is_billed_per_token_and_says_so(aimlapi_fake: FakeAimlApi) -> None:
    before = Decimal(repr(aimlapi_fake.balance))
    answer = _post(aimlapi_fake, _chat(), **{"X-Client-Request-Id": "af1:d:r:t:-1:1"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert body["choices"][0]["message"]["role"] == "assistant"
    nanos = price_nanos("openai/gpt-5-mini", 3, 5)
    assert nanos == round((3 * PRICES["openai/gpt-5-mini"][0] + 5 * PRICES["openai/gpt-5-mini"][1]) * 1e9)
    assert answer.headers["x-aimlapi-usd-spent"] == usd_text(nanos)
    assert answer.headers["x-aimlapi-credits-used"] == str(round(nanos * 2_000_000 / 1e9))
    assert answer.headers["x-client-request-id"] == "af1:d:r:t:-1:1"
    (row,) = aimlapi_fake.request_logs()
    assert row["inference_id"] == answer.headers["x-inference-id"]
    assert row["client_request_id"] == "af1:d:r:t:-1:1"
    assert (row["tokens"]["input"], row["tokens"]["output"]) == (3, 5)
    charges = [t for t in aimlapi_fake.transactions() if t["type"] == "MODEL_USAGE"]
    assert [t["reference_id"] for t in charges] == [row["inference_id"]]
    assert Decimal(repr(charges[0]["amount"]["usd"])) == Decimal(answer.headers["x-aimlapi-usd-spent"])
    assert Decimal(repr(aimlapi_fake.balance)) == before - Decimal(answer.headers["x-aimlapi-usd-spent"])


def test_usd_header_has_nine_decimals() -> None:
    assert usd_text(1_240_000) == "0.001240000"
    assert usd_text(3_000_000_001) == "3.000000001"


@pytest.mark.parametrize("bad_id", ["has space", "x" * 129, "plus+sign", "dé", ""])
def test_an_invalid_client_id_is_dropped_and_the_call_billed(aimlapi_fake: FakeAimlApi, bad_id: str) -> None:
    answer = _post(aimlapi_fake, _chat(), **{"X-Client-Request-Id": bad_id.encode().decode("latin-1")})
    assert answer.status_code == 200
    assert "x-client-request-id" not in answer.headers
    assert "x-inference-id" in answer.headers
    (row,) = aimlapi_fake.request_logs()
    assert row["client_request_id"] is None
    assert row["cost"]["usd"] > 0


def test_no_client_id_no_echo(aimlapi_fake: FakeAimlApi) -> None:
    answer = _post(aimlapi_fake, _chat())
    assert "x-client-request-id" not in answer.headers
    assert aimlapi_fake.request_logs()[0]["client_request_id"] is None


def test_a_128_character_id_is_kept(aimlapi_fake: FakeAimlApi) -> None:
    answer = _post(aimlapi_fake, _chat(), **{"X-Client-Request-Id": "a" * 128})
    assert answer.headers["x-client-request-id"] == "a" * 128


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_chat(model="nobody/none"), 404),
        ({"model": "openai/gpt-5", "messages": []}, 400),
        ({**_chat(), "max_tokens": 0}, 400),
        ({**_chat(), "stream": True}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_requests_are_refused_not_billed_and_logged_failed(
    aimlapi_fake: FakeAimlApi, body: object, status: int
) -> None:
    balance = aimlapi_fake.balance
    answer = _post(aimlapi_fake, body, **{"X-Client-Request-Id": "af1-refused"})
    assert answer.status_code == status
    assert "message" in answer.json()["error"]
    assert aimlapi_fake.balance == balance
    assert not [t for t in aimlapi_fake.transactions() if t["type"] == "MODEL_USAGE"]
    [row] = aimlapi_fake.request_logs()  # the API logs a refused call, failed, at no cost
    assert (row["status"], row["cost"]["usd"], row["client_request_id"]) == ("failed", 0, "af1-refused")


def test_a_body_that_is_not_json_is_logged_failed(aimlapi_fake: FakeAimlApi) -> None:
    answer = requests.post(
        f"{aimlapi_fake.url}/v1/chat/completions",
        data=b"{not json",
        headers={"Authorization": f"Bearer {aimlapi_fake.api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400
    [row] = aimlapi_fake.request_logs()
    assert row["status"] == "failed"


def test_the_key_is_checked(aimlapi_fake: FakeAimlApi) -> None:
    assert _post(aimlapi_fake, _chat(), Authorization="Bearer wrong").status_code == 401
    assert (
        requests.post(f"{aimlapi_fake.url}/v1/chat/completions", json=_chat(), timeout=10).status_code == 401
    )
    assert aimlapi_fake.request_logs() == []


def test_openai_sdk_reads_the_answer(aimlapi_fake: FakeAimlApi) -> None:
    import openai

    client = openai.OpenAI(api_key=aimlapi_fake.api_key, base_url=f"{aimlapi_fake.url}/v1", max_retries=0)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model="openai/gpt-4o",
            messages=[{"role": "user", "content": "a b c d"}],
            max_tokens=7,
            extra_headers={"X-Client-Request-Id": "af1:d:r:t:2:1"},
        )
    completion = raw.parse()
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 4
    assert raw.headers["x-client-request-id"] == "af1:d:r:t:2:1"
    assert aimlapi_fake.request_logs()[0]["client_request_id"] == "af1:d:r:t:2:1"


def test_history_can_carry_given_client_ids(aimlapi_fake: FakeAimlApi) -> None:
    ids = ["af1:a:r:t:-1:1", "af1:b:r:t:-1:1"]
    aimlapi_fake.generate_history(requests=300, days=1.0, seed=3, client_ids=ids)
    sent = [r["client_request_id"] for r in aimlapi_fake.request_logs()]
    assert set(sent) == {*ids, None}
    assert 100 < sum(s is not None for s in sent) < 250  # about 60 % send one, as without the option
