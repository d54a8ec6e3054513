from __future__ import annotations

import pytest

from airflow_aimlapi._connection import settings_from_connection
from airflow_aimlapi.exceptions import AimlApiConfigError

SECRET = "sk-proto-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


class _Conn:
    def __init__(self, password: str | None, host: str | None = None) -> None:
        self.password, self.host, self.schema, self.port = password, host, None, None


@pytest.mark.parametrize("char", ["\u201d", "\u00e9", "\x00", "\x1b", "\u200b", "\x7f"])
def test_settings_refuse_a_key_that_cannot_go_in_a_header(char: str) -> None:
    key = f"sk-{char}abcdefgh"
    with pytest.raises(AimlApiConfigError) as info:
        settings_from_connection("pasted", _Conn(key), {})
    assert info.value.conn_id == "pasted"
    assert str(info.value).startswith("Connection 'pasted' has an API key with")
    assert "position 4 of 12" in str(info.value)
    assert "abcdefgh" not in str(info.value)
    assert char not in str(info.value)
    with pytest.raises(AimlApiConfigError, match=r"^This connection has an API key with"):
        settings_from_connection("pasted", _Conn(key), {}, transient=True)


def test_settings_keep_a_key_pasted_into_the_host_out_of_the_error() -> None:
    with pytest.raises(AimlApiConfigError) as info:
        settings_from_connection("c", _Conn(SECRET, host=f"ftp://{SECRET}"), {})
    assert SECRET[:10] not in str(info.value)
    assert "'ftp'" in str(info.value)
