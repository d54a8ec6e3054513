"""Where each supported Airflow release keeps the exceptions the gate sensors catch."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException


def reschedule_exception_type() -> type[AirflowException]:
    """Return ``AirflowRescheduleException`` (reschedule mode) from where this Airflow keeps it."""
    try:
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # Airflow 3.0/3.1 raise it from airflow.exceptions
        from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef,attr-defined,unused-ignore]
    return AirflowRescheduleException  # type: ignore[no-any-return,unused-ignore]


def deferral_timeout_type() -> type[AirflowException]:
    """Return ``TaskDeferralTimeout`` (a deferral outlived its timeout) from where this Airflow keeps it."""
    try:
        from airflow.sdk.exceptions import TaskDeferralTimeout
    except ImportError:  # Airflow 3.0/3.1
        from airflow.exceptions import TaskDeferralTimeout  # type: ignore[no-redef,attr-defined,unused-ignore]
    return TaskDeferralTimeout  # type: ignore[no-any-return,unused-ignore]
