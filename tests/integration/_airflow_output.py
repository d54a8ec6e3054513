"""What the integration tests read of Airflow's own output."""

from __future__ import annotations


def without_test_supervisor_echo(text: str) -> str:
    """Drop Airflow 3.0.x's echo of ``MaskSecret(value=...)`` messages from ``dags test`` output.

    Airflow 3.0.x ``dags test`` runs tasks under an in-process test supervisor that logs every
    message body at debug level, including ``MaskSecret(value=...)``, which Airflow itself sends for
    every connection password it fetches (and which the provider sends to have the key masked).
    Airflow 3.3 and real (socket) supervisors do not log message bodies; the e2e tests check every
    log of a real scheduler and triggerer with no exclusion. Only those exact Airflow lines go.

    :param text: The captured output.
    """
    return "\n".join(line for line in text.splitlines() if "MaskSecret(value=" not in line)
