"""Apache Airflow provider for the AIML API billing endpoints.

Kept light on purpose: Airflow imports this module (for :func:`get_provider_info`) at start-up in
every component, so it imports nothing from the provider itself.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (the ``apache_airflow_provider`` entry point)."""
    return {
        "package-name": "airflow-provider-aimlapi",
        "name": "AIML API",
        "description": "Gate DAGs on the AIML API account balance and pull billing detail into XCom.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "AIML API",
                "external-doc-url": "https://docs.aimlapi.com/",
                "tags": ["ai", "service"],
            }
        ],
        "hooks": [{"integration-name": "AIML API", "python-modules": ["airflow_aimlapi.hooks.aimlapi"]}],
        "operators": [
            {
                "integration-name": "AIML API",
                "python-modules": [
                    "airflow_aimlapi.operators.aimlapi",
                    "airflow_aimlapi.operators.usage",
                    "airflow_aimlapi.operators.ledger",
                    "airflow_aimlapi.operators.logs",
                    "airflow_aimlapi.operators.attribution",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "AIML API",
                "python-modules": ["airflow_aimlapi.sensors.aimlapi", "airflow_aimlapi.sensors.budget"],
            }
        ],
        "triggers": [
            {
                "integration-name": "AIML API",
                "python-modules": [
                    "airflow_aimlapi.triggers.aimlapi",
                    "airflow_aimlapi.triggers.budget",
                    "airflow_aimlapi.triggers.runway",
                ],
            }
        ],
        # Listed by `airflow providers links`. Airflow 3 itself needs no registration: the task
        # stores the link's URL in XCom when it ends and the UI reads it from there.
        "extra-links": ["airflow_aimlapi.links.AimlApiBillingLink"],
        "connection-types": [
            {
                "connection-type": "aimlapi",
                "hook-class-name": "airflow_aimlapi.hooks.aimlapi.AimlApiHook",
                "hook-name": "AIML API",
                # Read by Airflow 3.2+; older 3.x asks the hook's get_ui_field_behaviour() and
                # get_connection_form_widgets(), which return the same (see the hook).
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }


#: The connection the provider's hook (``AimlApiHook.default_conn_name``) and triggers use unless
#: told otherwise; here, not in the hook's module, so triggers built at DAG parse need no ``requests``.
DEFAULT_CONN_NAME = "aimlapi_default"
#: The API root a connection without a Base URL calls.
DEFAULT_BASE_URL = "https://api.aimlapi.com"
#: Path suffixes of a pasted API root that are dropped: the billing paths are absolute (/v1/..., /v2/...).
VERSION_SUFFIXES = ("/v1", "/v2")
#: Seconds to wait for an answer, unless the connection's ``timeout`` extra or an argument says otherwise.
DEFAULT_READ_TIMEOUT = 30.0
#: Seconds to wait for a TCP/TLS connection (never more than the read timeout).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Retries of a transient failure within one call, unless the ``max_retries`` extra says otherwise.
DEFAULT_MAX_RETRIES = 3

#: How the connection form looks: the password is the API key, host is the optional base URL.
#: Schema is hidden because the Base URL carries the scheme (a bare host name still means https,
#: and a schema set through a URI or secrets backend is still honoured). Port stays visible: on
#: Airflow 3.3 the connection list's Test button sends ``port: 0`` for a connection saved without
#: a port, and the API then refuses the test with "Bad Request" before the hook runs (fixed
#: upstream by apache/airflow#73298, not in 3.3.2). A typed port is used only when the Base URL
#: names none.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "extra"],
    "relabeling": {"password": "API key", "host": "Base URL"},
    "placeholders": {
        "host": f"{DEFAULT_BASE_URL} (default)",
        "port": "443 (fill in: Airflow 3.3's Test button needs a port)",
        "password": "your AIML API key",
        "timeout": f"{DEFAULT_READ_TIMEOUT:g}",
        "max_retries": str(DEFAULT_MAX_RETRIES),
    },
}

#: The connection's extra fields, as JSON schema.
CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": (
            f"Seconds to wait for an answer from the API (connecting waits at most "
            f"{DEFAULT_CONNECT_TIMEOUT:g})."
        ),
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": DEFAULT_READ_TIMEOUT},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of 429, 5xx, timeouts and dropped connections within one call.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "default": DEFAULT_MAX_RETRIES},
    },
}
