"""Sensor that waits until the AIML API account balance is high enough."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseOperator,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_min_balance, coerce_timeout
from airflow_aimlapi.exceptions import (
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiRateLimitError,
    error_from_dict,
)
from airflow_aimlapi.links import AimlApiBillingLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi._retry import Backoff
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

#: What opens a Jinja expression, statement or comment by default; a string holding none of them
#: is a literal, checked when the DAG is parsed.
_JINJA_MARKERS = ("{{", "{%", "{#")
#: The longest ``poke_interval`` or ``timeout`` accepted, in seconds (a year): longer is a typo,
#: and overflows the dates Airflow computes from them.
MAX_SENSOR_SECONDS = 366 * 24 * 3600.0


class AimlApiBalanceSensor(BaseSensorOperator):
    """Wait until the AIML API account balance reaches ``min_balance`` USD.

    The sensor is done when ``current_balance >= min_balance`` (``GET /v2/billing``); it then
    pushes the balance it saw as XCom ``return_value``: ``{"current_balance": 123.45, "currency": "USD"}``.

    Each check makes **one** API call, in every mode: a check never sleeps through retries.

    * a lower balance, a 403 saying the account is out of credits (an empty account is what a
      balance gate waits out), and transient failures (429, 5xx, timeouts, dropped connections)
      all mean "not yet": the sensor checks again after ``poke_interval``, or after the API's
      ``Retry-After`` when that is longer (capped, as in the trigger, at four ``poke_interval``
      and at least 60 s, so a ``Retry-After: 86400`` does not park the gate for a day);
    * a bad key or another 403, and a bad connection, fail the task at once without spending
      Airflow retries; a 404 (wrong base URL) or an invalid answer fails it like any error, so
      Airflow retries apply.

    The same answer has the same outcome in poke, reschedule and deferrable mode, also with
    ``soft_fail`` (skips on a timeout and on the failures that spend no retries), with
    ``never_fail`` (skips on a timeout and on any failure) and with ``silent_fail`` (logs the
    other failures and waits on; deferrable mode defers again), on every supported Airflow version.

    With ``deferrable=True`` the sensor checks once on the worker, and if the balance is not
    there yet hands the wait to :class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger`
    in the triggerer, freeing the worker. The trigger's first call comes one ``poke_interval``
    (or the ``Retry-After``) after that check, so deferring costs no extra call; triggers watching
    the same account share one API call per poll interval.

    :param min_balance: Required balance in USD (templated): a finite number >= 0. A template may
        render it as a string such as ``"12.5"``. A literal (a number, or a string without Jinja
        markers) is checked when the DAG is parsed, a template once rendered.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param deferrable: Wait in the triggerer instead of a worker. Defaults to
        ``[operators] default_deferrable``.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    template_fields: Sequence[str] = ("min_balance", "aimlapi_conn_id")
    ui_color = "#e8f4fd"
    operator_extra_links = (AimlApiBillingLink(),)

    def __init__(
        self,
        *,
        min_balance: float | str,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} '{kwargs.get('task_id')}'"
        # Airflow refuses negatives but lets NaN, infinity, huge numbers and booleans through, to
        # fail later in timedelta() or datetime arithmetic: checked here, naming the parameter.
        for name in ("poke_interval", "timeout"):
            if name in kwargs:
                _sensor_seconds(kwargs[name], owner=owner, param=name)
        super().__init__(**kwargs)
        # Literals (None too) are checked now; a template string, or an XComArg or other value
        # Airflow resolves at run time, once rendered.
        literal = min_balance is None or isinstance(min_balance, (int, float, str))
        if literal and not self._is_template(min_balance):
            coerce_min_balance(min_balance, owner=self._owner)
        self.min_balance = min_balance
        self.aimlapi_conn_id = aimlapi_conn_id
        self.deferrable = deferrable
        self.request_timeout = coerce_timeout(request_timeout, owner=self._owner)
        # Wall-clock time at which the sensor times out; carried across deferrals.
        self._deadline: float | None = None
        # The Retry-After of the latest rate-limited check, and (poke mode) the monotonic time
        # before which no API call is made because of it.
        self._retry_after: float | None = None
        self._next_call_at = 0.0

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__} '{self.task_id}'"

    def _is_template(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        markers = set(_JINJA_MARKERS)
        if self.has_dag():  # type: ignore[no-untyped-call]
            # A DAG may change the delimiters (jinja_environment_kwargs).
            jinja_kwargs = getattr(self.dag, "jinja_environment_kwargs", None) or {}
            for key in ("variable_start_string", "block_start_string", "comment_start_string"):
                if isinstance(jinja_kwargs.get(key), str):
                    markers.add(jinja_kwargs[key])
        return any(marker in value for marker in markers)

    @cached_property
    def hook(self) -> AimlApiHook:
        """The hook for ``aimlapi_conn_id`` (built on first use, never at DAG parse time)."""
        from airflow_aimlapi.hooks.aimlapi import AimlApiHook

        return AimlApiHook(self.aimlapi_conn_id, timeout=self.request_timeout)

    @property
    def required_balance(self) -> float:
        """``min_balance`` as a validated number; raises an error naming ``min_balance`` otherwise."""
        return coerce_min_balance(self.min_balance, owner=self._owner)

    def execute(self, context: Context) -> Any:
        """Check the balance; wait in poke/reschedule mode, or defer when ``deferrable``.

        :param context: The task context.
        """
        self._deadline = time.time() + self.timeout
        try:
            return super().execute(context)
        except AirflowSensorTimeout as err:
            # Airflow's poke loop skips a timeout with soft_fail but not with never_fail.
            if self.soft_fail or self.never_fail:
                raise self._skip(err) from err
            raise
        except _reschedule_exception_type() as resched:
            # Reschedule mode: the next poke honours the API's Retry-After, if longer.
            wait = self._wait_after(self._retry_after)
            later = datetime.now(UTC) + timedelta(seconds=wait)
            current = resched.reschedule_date  # type: ignore[attr-defined]
            if self._retry_after is None or current >= later:
                raise
            self.log.info(
                "Next check in %.0f s, as the API asked (Retry-After; connection '%s').",
                wait,
                self.aimlapi_conn_id,
            )
            raise _reschedule_exception_type()(later) from None
        finally:
            # Whatever the outcome (done, failed, rescheduled, deferred), the session's sockets go.
            self._close_hook()

    def _close_hook(self) -> None:
        hook: AimlApiHook | None = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the balance once; return done (with the balance as XCom) once it is ``>= min_balance``.

        :param context: The task context.
        """
        min_balance = self.required_balance
        if not self.deferrable and time.monotonic() < self._next_call_at:
            self.log.info(
                "Rate limited (connection '%s'): no API call yet; next check in %s.",
                self.aimlapi_conn_id,
                self._next_check(None),
            )
            return False
        self._retry_after = None
        try:
            balance = self.hook.get_balance(max_retries=0)
        except AimlApiInsufficientCreditsError as err:
            self.log.info(
                "%s Waiting for a top-up to %s USD; next check in %s.",
                err,
                min_balance,
                self._next_check(None),
            )
            return self._not_yet(min_balance)
        except AimlApiError as err:
            if not err.retryable:
                return self._failed_check(err, min_balance)
            retry_after = err.retry_after if isinstance(err, AimlApiRateLimitError) else None
            self.log.warning("%s Still waiting; next check in %s.", err, self._next_check(retry_after))
            return self._not_yet(min_balance, retry_after)
        except Exception as err:
            return self._failed_check(err, min_balance)
        if balance.is_at_least(min_balance):
            self.log.info(
                "AIML API balance %s %s >= %s (connection '%s'): done.",
                balance.current_balance,
                balance.currency,
                min_balance,
                self.aimlapi_conn_id,
            )
            return PokeReturnValue(is_done=True, xcom_value=balance.to_dict())
        self.log.info(
            "AIML API balance %s %s < %s (connection '%s'): waiting; next check in %s.",
            balance.current_balance,
            balance.currency,
            min_balance,
            self.aimlapi_conn_id,
            self._next_check(None),
        )
        return self._not_yet(min_balance)

    def _next_check(self, retry_after: float | None) -> str:
        """Say when the next check comes, for a log line: ``"60 s"``, or a lower bound with backoff."""
        wait = f"{self._wait_after(retry_after):.0f} s"
        # Airflow's exponential backoff (poke and reschedule mode) lengthens the interval itself.
        if self.exponential_backoff and not self.deferrable:
            return f"at least {wait} (exponential backoff)"
        return wait

    def _failed_check(self, err: Exception, min_balance: float) -> bool:
        # Poke and reschedule mode: Airflow's loop applies silent_fail. A deferrable sensor
        # applies it here, deferring instead of poking on in the worker.
        if not (self.deferrable and self._silenced(err)):
            raise err
        self.log.error("%s Ignored (silent_fail); next check in %s.", err, self._next_check(None))
        return self._not_yet(min_balance)

    def _silenced(self, err: BaseException) -> bool:
        """Whether ``silent_fail`` turns ``err`` into "not yet", as Airflow's poke loop does."""
        return self.silent_fail and not isinstance(err, _NEVER_SILENCED)

    def _wait_after(self, retry_after: float | None) -> float:
        """Seconds until the next check: ``poke_interval``, or a longer (capped) ``Retry-After``."""
        return self._backoff.next_check(retry_after)

    def _capped(self, retry_after: float | None) -> float:
        return self._backoff.honoured(retry_after)

    @property
    def _backoff(self) -> Backoff:
        # The pollers' policy, so the worker's check and the trigger's agree on a Retry-After.
        from airflow_aimlapi._retry import poll_backoff

        return poll_backoff(self.poke_interval)

    def _not_yet(self, min_balance: float, retry_after: float | None = None) -> bool:
        self._retry_after = retry_after
        if self.deferrable:
            self._defer(min_balance, first_check_delay=self._wait_after(retry_after))
        if retry_after is not None:
            self._next_call_at = time.monotonic() + self._capped(retry_after)
        return False

    def _defer(self, min_balance: float, first_check_delay: float) -> None:
        from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

        remaining = self.timeout if self._deadline is None else self._deadline - time.time()
        self.defer(
            trigger=AimlApiBalanceTrigger(
                aimlapi_conn_id=self.aimlapi_conn_id,
                min_balance=min_balance,
                poll_interval=self.poke_interval,
                request_timeout=self.request_timeout,
                first_check_delay=first_check_delay,
            ),
            method_name="execute_complete",
            kwargs={} if self._deadline is None else {"deadline": self._deadline},
            timeout=timedelta(seconds=max(0.0, remaining)),
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after deferral, with the outcomes of poke mode for the same error or timeout.

        Airflow's own sensor skips with ``soft_fail`` on *any* error after a deferral, where poke
        mode skips only on a timeout and on errors that spend no retries; and before Airflow 3.2
        it ignores ``never_fail`` there. This applies one rule in every mode and version.

        :param next_method: The method to resume with, or Airflow's ``__fail__`` marker.
        :param next_kwargs: Its keyword arguments (the trigger's ``event``, the ``deadline``).
        :param context: The task context.
        """
        try:
            # BaseOperator's, not BaseSensorOperator's: its soft_fail rule differs from poke mode.
            return BaseOperator.resume_execution(self, next_method, next_kwargs, context)
        except _deferral_timeout_type() as err:
            timed_out = AirflowSensorTimeout(
                f"Sensor has timed out while deferred (timeout {self.timeout} s)."
            )
            if self.soft_fail or self.never_fail:
                raise self._skip(timed_out) from err
            raise timed_out from err
        except AirflowSkipException:
            raise
        except (AirflowFailException, AirflowSensorTimeout, AirflowTaskTimeout) as err:
            if self.soft_fail or self.never_fail:
                raise self._skip(err) from err
            raise
        except Exception as err:
            if self.never_fail:
                raise self._skip(err) from err
            raise

    def _skip(self, err: BaseException) -> AirflowSkipException:
        flag = "soft_fail" if self.soft_fail else "never_fail"
        return AirflowSkipException(f"Skipping due to {flag}: {err}")

    def execute_complete(
        self, context: Context, event: dict[str, Any], deadline: float | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired: return the balance (XCom), or raise the error it reported.

        With ``silent_fail``, an error that poke mode would log and wait out is logged and the
        sensor defers again, until its ``timeout``.

        :param context: The task context.
        :param event: The trigger's event payload: ``{"status": "success", "balance": {...}}`` or
            ``{"status": "error", "error_type": ..., "message": ...}``.
        :param deadline: When the sensor times out (seconds since the epoch), passed on by
            :meth:`defer`.
        """
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            balance: dict[str, Any] = event["balance"]
            return balance
        err = error_from_dict(event)
        # Without the deadline (`airflow dags test` resumes with the event only) a re-deferral
        # could wait forever: the error is raised.
        if deadline is None or not self._silenced(err):
            raise err
        self._deadline = deadline
        if time.time() >= self._deadline:
            raise AirflowSensorTimeout(f"Sensor has timed out (timeout {self.timeout} s); last error: {err}")
        self.log.error("%s Ignored (silent_fail); the balance is checked again later.", err)
        self._defer(self.required_balance, first_check_delay=self.poke_interval)
        raise AssertionError("unreachable: defer() raises")


def _sensor_seconds(value: Any, *, owner: str, param: str) -> None:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 <= seconds <= MAX_SENSOR_SECONDS  # also refuses NaN
    ):
        raise AimlApiConfigError(
            f"{owner}: {param} must be a number of seconds (or a timedelta) from 0 to "
            f"{MAX_SENSOR_SECONDS:g}, got {value!r}."
        )


#: What silent_fail never hides, in Airflow's poke loop as here.
_NEVER_SILENCED = (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException, AirflowSkipException)


def _reschedule_exception_type() -> type[AirflowException]:
    try:
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # Airflow 3.0/3.1 raise it from airflow.exceptions
        from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef,attr-defined,unused-ignore]
    return AirflowRescheduleException  # type: ignore[no-any-return,unused-ignore]


def _deferral_timeout_type() -> type[AirflowException]:
    try:
        from airflow.sdk.exceptions import TaskDeferralTimeout
    except ImportError:  # Airflow 3.0/3.1
        from airflow.exceptions import TaskDeferralTimeout  # type: ignore[no-redef,attr-defined,unused-ignore]
    return TaskDeferralTimeout  # type: ignore[no-any-return,unused-ignore]
