"""What the gate sensors share: one API call per check, and the same outcome in every mode.

The balance gate (:class:`~airflow_aimlapi.sensors.aimlapi.AimlApiBalanceSensor`) and the
spend-budget gate (:class:`~airflow_aimlapi.sensors.budget.AimlApiSpendBudgetSensor`) differ only
in what they read, when it opens them, what they log and which trigger they defer to; both check
with :meth:`GateSensor.poke` and apply one rule for ``soft_fail``, ``never_fail``, ``silent_fail``,
``timeout`` and ``Retry-After`` in poke, reschedule and deferrable mode, on every supported Airflow.
"""

from __future__ import annotations

import abc
import time
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseOperator,
    BaseSensorOperator,
    PokeReturnValue,
)

from airflow_aimlapi._arguments import coerce_timeout
from airflow_aimlapi.exceptions import (
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiRateLimitError,
    error_from_dict,
)
from airflow_aimlapi.links import AimlApiBillingLink
from airflow_aimlapi.sensors._compat import deferral_timeout_type, reschedule_exception_type

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_aimlapi._retry import Backoff
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

#: What opens a Jinja expression, statement or comment by default; a string holding none of them
#: is a literal, checked when the DAG is parsed.
JINJA_MARKERS = ("{{", "{%", "{#")
#: The longest ``poke_interval`` or ``timeout`` accepted, in seconds (a year): longer is a typo,
#: and overflows the dates Airflow computes from them.
MAX_SENSOR_SECONDS = 366 * 24 * 3600.0


class GateSensor(BaseSensorOperator):
    """A sensor that checks the AIML API once per poke and waits while the answer says "not yet".

    Each check makes **one** API call, in every mode. A 403 saying the account is out of credits
    and transient failures (429, 5xx, timeouts) mean "not yet": the next check comes after
    ``poke_interval``, or after a longer ``Retry-After`` capped as the triggers cap it. A bad key,
    another 403 and a bad connection fail the task without Airflow retries; any other error fails
    it with them. With ``deferrable=True`` the first check is on the worker, and the wait moves to
    the trigger :meth:`_trigger` returns, its first call one ``poke_interval`` (or the
    ``Retry-After``) later.

    Subclasses say what a check reads (:meth:`_read`), when it is done (:meth:`_done`), what they
    log while waiting (:meth:`_waiting`, :meth:`_out_of_credits`) and which trigger waits for them.

    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param deferrable: Wait in the triggerer instead of a worker.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    ui_color = "#e8f4fd"
    operator_extra_links = (AimlApiBillingLink(),)
    #: The key of the trigger's success event that holds the result (the XCom).
    _result_key = ""

    def __init__(
        self,
        *,
        aimlapi_conn_id: str,
        deferrable: bool,
        request_timeout: float | None,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} '{kwargs.get('task_id')}'"
        # Airflow refuses negatives but lets NaN, infinity, huge numbers and booleans through, to
        # fail later in timedelta() or datetime arithmetic: checked here, naming the parameter.
        for name in ("poke_interval", "timeout"):
            if name in kwargs:
                sensor_seconds(kwargs[name], owner=owner, param=name)
        super().__init__(**kwargs)
        self.aimlapi_conn_id = aimlapi_conn_id
        self.deferrable = deferrable
        self.request_timeout = coerce_timeout(request_timeout, owner=self._owner)
        # Wall-clock time at which the sensor times out; carried across deferrals.
        self._deadline: float | None = None
        # The Retry-After of the latest rate-limited check, and (poke mode) the monotonic time
        # before which no API call is made because of it.
        self._retry_after: float | None = None
        self._next_call_at = 0.0

    @abc.abstractmethod
    def _read(self) -> Any:
        """Make this check's one API call (arguments checked once rendered) and return its record."""

    @abc.abstractmethod
    def _done(self, record: Any) -> dict[str, Any] | None:
        """Return the XCom (and log it) if ``record`` opens the gate, else ``None``.

        :param record: What :meth:`_read` returned.
        """

    @abc.abstractmethod
    def _waiting(self, record: Any, next_check: str) -> None:
        """Log that ``record`` does not open the gate yet.

        :param record: What :meth:`_read` returned.
        :param next_check: When the next check comes, for the log line.
        """

    @abc.abstractmethod
    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, next_check: str) -> None:
        """Log that the account is out of credits, which counts as "not yet".

        :param err: The API's 403.
        :param next_check: When the next check comes, for the log line.
        """

    @abc.abstractmethod
    def _trigger(self, first_check_delay: float) -> BaseTrigger:
        """Return the trigger that waits for this gate in the triggerer.

        :param first_check_delay: Seconds before the trigger's first call.
        """

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__} '{self.task_id}'"

    def _is_template(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        markers = set(JINJA_MARKERS)
        if self.has_dag():  # type: ignore[no-untyped-call]
            # A DAG may change the delimiters (jinja_environment_kwargs).
            jinja_kwargs = getattr(self.dag, "jinja_environment_kwargs", None) or {}
            for key in ("variable_start_string", "block_start_string", "comment_start_string"):
                if isinstance(jinja_kwargs.get(key), str):
                    markers.add(jinja_kwargs[key])
        return any(marker in value for marker in markers)

    @cached_property
    def hook(self) -> AimlApiHook:
        """The hook for ``aimlapi_conn_id``: no retries inside a check (the next check is the retry)."""
        from airflow_aimlapi.hooks.aimlapi import AimlApiHook

        return AimlApiHook(self.aimlapi_conn_id, timeout=self.request_timeout, max_retries=0)

    def execute(self, context: Context) -> Any:
        """Check; wait in poke/reschedule mode, or defer when ``deferrable``.

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
        except reschedule_exception_type() as resched:
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
            raise reschedule_exception_type()(later) from None
        finally:
            # Whatever the outcome (done, failed, rescheduled, deferred), the session's sockets go.
            self._close_hook()

    def _close_hook(self) -> None:
        hook: AimlApiHook | None = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check once: one API call; done (with the result as XCom) once the answer opens the gate.

        :param context: The task context.
        """
        self._check_arguments()
        if not self.deferrable and time.monotonic() < self._next_call_at:
            self.log.info(
                "Rate limited (connection '%s'): no API call yet; next check in %s.",
                self.aimlapi_conn_id,
                self._next_check(None),
            )
            return False
        self._retry_after = None
        try:
            record = self._read()
            result = self._done(record)
        except AimlApiInsufficientCreditsError as err:
            self._out_of_credits(err, self._next_check(None))
            return self._not_yet()
        except AimlApiError as err:
            if not err.retryable:
                return self._failed_check(err)
            retry_after = err.retry_after if isinstance(err, AimlApiRateLimitError) else None
            self.log.warning("%s Still waiting; next check in %s.", err, self._next_check(retry_after))
            return self._not_yet(retry_after)
        except Exception as err:
            return self._failed_check(err)
        if result is not None:
            return PokeReturnValue(is_done=True, xcom_value=result)
        self._waiting(record, self._next_check(None))
        return self._not_yet()

    def _check_arguments(self) -> None:
        """Check the rendered arguments, raising an error that names a bad one (before any call)."""

    def _next_check(self, retry_after: float | None) -> str:
        """Say when the next check comes, for a log line: ``"60 s"``, or a lower bound with backoff."""
        wait = f"{self._wait_after(retry_after):.0f} s"
        # Airflow's exponential backoff (poke and reschedule mode) lengthens the interval itself.
        if self.exponential_backoff and not self.deferrable:
            return f"at least {wait} (exponential backoff)"
        return wait

    def _failed_check(self, err: Exception) -> bool:
        # Poke and reschedule mode: Airflow's loop applies silent_fail. A deferrable sensor
        # applies it here, deferring instead of poking on in the worker.
        if not (self.deferrable and self._silenced(err)):
            raise err
        self.log.error("%s Ignored (silent_fail); next check in %s.", err, self._next_check(None))
        return self._not_yet()

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

    def _not_yet(self, retry_after: float | None = None) -> bool:
        self._retry_after = retry_after
        if self.deferrable:
            self._defer(first_check_delay=self._wait_after(retry_after))
        if retry_after is not None:
            self._next_call_at = time.monotonic() + self._capped(retry_after)
        return False

    def _defer(self, first_check_delay: float) -> None:
        remaining = self.timeout if self._deadline is None else self._deadline - time.time()
        self.defer(
            trigger=self._trigger(first_check_delay),
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
        except deferral_timeout_type() as err:
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
        """Resume after the trigger fired: return its result (XCom), or raise the error it reported.

        With ``silent_fail``, an error that poke mode would log and wait out is logged and the
        sensor defers again, until its ``timeout``.

        :param context: The task context.
        :param event: The trigger's event payload: ``{"status": "success", <result_key>: {...}}``
            or ``{"status": "error", "error_type": ..., "message": ...}``.
        :param deadline: When the sensor times out (seconds since the epoch), passed on by
            :meth:`defer`.
        """
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            result: dict[str, Any] = event[self._result_key]
            return result
        err = error_from_dict(event)
        # Without the deadline (`airflow dags test` resumes with the event only) a re-deferral
        # could wait forever: the error is raised.
        if deadline is None or not self._silenced(err):
            raise err
        self._deadline = deadline
        if time.time() >= self._deadline:
            raise AirflowSensorTimeout(f"Sensor has timed out (timeout {self.timeout} s); last error: {err}")
        self.log.error("%s Ignored (silent_fail); checking again later.", err)
        self._defer(first_check_delay=self.poke_interval)
        raise AssertionError("unreachable: defer() raises")


def sensor_seconds(value: Any, *, owner: str, param: str) -> None:
    """Check a sensor's ``poke_interval``, ``timeout`` (or an alias): seconds or a timedelta, 0 to a year.

    :param value: The value to check.
    :param owner: The sensor and task, named in the error.
    :param param: The parameter's name, named in the error.
    """
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
