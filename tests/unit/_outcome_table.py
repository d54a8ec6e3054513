"""The gate sensors' outcome table, run the same way for the balance gate and the budget gate.

The same API answer has the same outcome in poke, reschedule and deferrable mode, without flags
and with ``soft_fail``, ``never_fail`` and ``silent_fail``. :class:`Table` runs one cell: the
sensor in a mode with a flag, the answer served by a real :class:`FakeAimlApi`. The deferrable
column is run twice: the answer met at the worker's first check, and the answer met by the
trigger after the sensor deferred (the trigger is run here, its event handed back through
``resume_execution`` as Airflow does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_aimlapi.sensors._compat import reschedule_exception_type
from airflow_aimlapi.testing import FakeAimlApi

#: Read timeout of the sensors' and the triggers' calls; the "timeout" answer comes later. A
#: second, not less: under a loaded CI (several Airflow lanes on two cores) a prompt 404 once took
#: longer than 0.3 s to be read and counted as a timeout.
REQUEST_TIMEOUT = 1.0
MANY = 1000  # a persistent answer: every request from now on (in a test's lifetime)

DONE, WAIT, FAIL_FAST, FAIL = "done", "wait", "fail fast", "fail"
FLAGS = ("none", "soft_fail", "never_fail", "silent_fail")
MODES = ("poke", "reschedule", "deferrable: first check", "deferrable: in trigger")

#: serve(times): answer the next ``times`` calls in one row's way
Serve = Callable[[int], None]
#: serve(fake, monkeypatch, times): how a row answers the next ``times`` calls
Serves = Callable[[FakeAimlApi, pytest.MonkeyPatch, int], None]


@dataclass(frozen=True)
class Answer:
    """One row of the table: what the API says, and what kind of outcome that is.

    :param name: The row's name.
    :param kind: ``DONE``, ``WAIT``, ``FAIL_FAST`` or ``FAIL``.
    :param serve: Serves the answer.
    :param error: The error the answer raises, for the failing kinds.
    """

    name: str
    kind: str
    serve: Serves
    error: type[Exception] | None = None


def status(code: int, body: dict[str, Any] | None = None, **headers: str) -> Serves:
    """Serve an HTTP status (and body, headers) to the next calls.

    :param code: The status.
    :param body: The JSON body.
    :param headers: Response headers.
    """

    def serve(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        fake.fail_next(code, body, headers=headers or None, times=times)

    return serve


def slow(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """Answer the next calls after the sensors' and triggers' read timeout."""
    fake.delay_next(REQUEST_TIMEOUT + 0.5, times=times)


def expected(kind: str, error: type[Exception] | None, flag: str) -> object:
    """The table's rule: what the task ends as (``DONE``, an exception type or a skip).

    :param kind: The answer's kind: ``DONE``, ``WAIT``, ``FAIL_FAST`` or ``FAIL``.
    :param error: The error the answer raises, for the failing kinds.
    :param flag: ``"none"``, ``"soft_fail"``, ``"never_fail"`` or ``"silent_fail"``.
    """
    skips = flag in ("soft_fail", "never_fail")
    if kind == DONE:
        return DONE
    if kind == WAIT:  # ... until the sensor's timeout
        return AirflowSkipException if skips else AirflowSensorTimeout
    assert error is not None
    if kind == FAIL_FAST:  # spends no Airflow retries; silent_fail does not hide it
        return AirflowSkipException if skips else error
    if flag == "silent_fail":  # FAIL: logged and waited out, until the timeout
        return AirflowSensorTimeout
    return AirflowSkipException if flag == "never_fail" else error  # FAIL: Airflow retries apply


def assert_cell(outcome: object, want: object, label: str) -> None:
    """Assert one cell: ``DONE``, or an outcome of exactly the wanted type.

    :param outcome: What the runner returned.
    :param want: What :func:`expected` says.
    :param label: The cell, for the failure message.
    """
    if want == DONE:
        assert outcome == DONE, f"{label}: {outcome!r}"
    else:
        assert isinstance(want, type)
        assert type(outcome) is want, f"{label}: {outcome!r}"


def _reschedule_context(first_reschedule_date: datetime | None) -> Any:
    class TaskInstance:
        # Stands in for the task instance's reschedule history, which the sensor's timeout uses.
        def get_first_reschedule_date(self, context: Any) -> datetime | None:
            return first_reschedule_date

    return {"ti": TaskInstance()}


def deferral_timed_out(sensor: Any) -> object:
    """Resume ``sensor`` as Airflow does when a deferral outlives its timeout.

    :param sensor: The deferred sensor.
    """
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    return sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})


async def first_event(trigger: Any, fake: FakeAimlApi, *, expect_quiet: bool) -> Any:
    """The trigger's first event, or ``None`` if it is still waiting after meeting the answer.

    :param trigger: The trigger to run.
    :param fake: The fake API it calls.
    :param expect_quiet: The answer means "wait": give the trigger time to meet it, then stop.
    """
    checks_before = fake.request_count()
    events = trigger.run()
    first = asyncio.ensure_future(events.__anext__())
    try:
        if not expect_quiet:
            return await asyncio.wait_for(first, timeout=30)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while fake.request_count() == checks_before and not first.done():
            assert loop.time() < deadline, "the trigger never called the API"
            await asyncio.sleep(0.02)
        # The answer was served; give the trigger time to read it (or time out) and react.
        await asyncio.wait({first}, timeout=REQUEST_TIMEOUT + 0.4)
        return first.result() if first.done() else None
    finally:
        await close(first, events)


async def close(pending: asyncio.Future[Any], events: Any) -> None:
    """Stop a trigger's pending ``__anext__`` and close its ``run()``.

    :param pending: The pending step.
    :param events: The trigger's ``run()`` generator.
    """
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await pending
    await events.aclose()


@dataclass(frozen=True)
class Table:
    """How to build one gate sensor, and run a cell of the table with it.

    :param sensor: ``sensor(flag, **kwargs)`` builds the gate with that flag.
    :param is_done: Whether a result is the gate's success XCom.
    :param trigger_type: The trigger the gate defers to.
    :param defers: ``defers(fake)`` makes the worker's check say "not yet" (deferrable: in trigger).
    :param meet: ``meet(answer, fake, monkeypatch, trigger)`` serves the row's answer to the
        trigger's calls; by default the answer as the sensor met it.
    """

    sensor: Callable[..., Any]
    is_done: Callable[[object], bool]
    trigger_type: type
    defers: Callable[[FakeAimlApi], None]
    meet: Callable[[Answer, FakeAimlApi, pytest.MonkeyPatch, Any], None] | None = None

    def check(self, answer: Answer, mode: str, flag: str, fake: FakeAimlApi, mp: pytest.MonkeyPatch) -> None:
        """Run one cell, ``answer`` in ``mode`` with ``flag``, and assert the table's outcome.

        :param answer: The row.
        :param mode: The column.
        :param flag: The flag.
        :param fake: The fake API.
        :param mp: The test's monkeypatch.
        """

        def serve(times: int) -> None:
            answer.serve(fake, mp, times)

        def meet(trigger: Any) -> None:
            if self.meet is None:
                serve(MANY)
            else:
                self.meet(answer, fake, mp, trigger)

        if mode == "poke":
            outcome = self.poke(flag, serve)
        elif mode == "reschedule":
            outcome = self.reschedule(flag, serve)
        elif mode == "deferrable: first check":
            outcome = self.deferrable_first_check(flag, serve, fake)
        else:
            quiet = answer.kind == WAIT
            outcome = self.deferrable_in_trigger(
                flag, fake, defers=lambda: self.defers(fake), meet=meet, quiet=quiet
            )
        assert_cell(
            outcome, expected(answer.kind, answer.error, flag), f"{answer.name} in {mode} with {flag}"
        )

    def outcome(self, call: Callable[[], object]) -> object:
        """Run ``call``: ``DONE``, the exception it raised, or what it returned.

        :param call: What to run.
        """
        try:
            result = call()
        except Exception as err:
            return err
        return DONE if self.is_done(result) else result

    def poke(self, flag: str, serve: Serve) -> object:
        """Poke mode.

        :param flag: The flag.
        :param serve: Serves the row's answer.
        """
        serve(MANY)
        sensor = self.sensor(flag, mode="poke", poke_interval=0.05, timeout=0.4)
        return self.outcome(lambda: sensor.execute({}))

    def reschedule(self, flag: str, serve: Serve) -> object:
        """Reschedule mode: waiting is a reschedule, and the last poke, past the timeout, ends it.

        :param flag: The flag.
        :param serve: Serves the row's answer.
        """
        serve(MANY)
        sensor = self.sensor(flag, mode="reschedule", poke_interval=5, timeout=60)
        outcome = self.outcome(lambda: sensor.execute(_reschedule_context(None)))
        if not isinstance(outcome, reschedule_exception_type()):
            return outcome
        started = datetime.now(UTC) - timedelta(seconds=61)
        return self.outcome(lambda: sensor.execute(_reschedule_context(started)))

    def deferrable_first_check(self, flag: str, serve: Serve, fake: FakeAimlApi) -> object:
        """Deferrable mode, the answer met at the worker's first check.

        :param flag: The flag.
        :param serve: Serves the row's answer.
        :param fake: The fake API.
        """
        serve(MANY)
        sensor = self.sensor(flag, deferrable=True, poke_interval=5, timeout=6)
        deferred: TaskDeferred | None = None
        try:
            outcome = self.outcome(lambda: sensor.execute({}))
        except TaskDeferred as err:
            deferred = err
        # One check on the worker, never a poke loop there: waiting is the trigger's job.
        assert fake.request_count() <= 1
        if deferred is None:
            return outcome
        assert isinstance(deferred.trigger, self.trigger_type)
        return self.outcome(lambda: deferral_timed_out(sensor))

    def deferrable_in_trigger(
        self,
        flag: str,
        fake: FakeAimlApi,
        *,
        defers: Callable[[], None],
        meet: Callable[[Any], None],
        quiet: bool,
    ) -> object:
        """Deferrable mode, the answer met by the trigger after the worker's check deferred.

        :param flag: The flag.
        :param fake: The fake API.
        :param defers: Makes the worker's check say "not yet".
        :param meet: ``meet(trigger)`` serves the row's answer to the trigger's calls.
        :param quiet: The answer means "wait".
        """
        defers()
        # poke_interval below the trigger's 1 s floor: the first trigger check follows quickly.
        sensor = self.sensor(flag, deferrable=True, poke_interval=0.05, timeout=60)
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        trigger = info.value.trigger
        assert isinstance(trigger, self.trigger_type)
        meet(trigger)
        event = asyncio.run(first_event(trigger, fake, expect_quiet=quiet))
        if event is None:  # it kept waiting, until the deferral's timeout
            return self.outcome(lambda: deferral_timed_out(sensor))
        next_kwargs = {**(info.value.kwargs or {}), "event": event.payload}  # as Airflow resumes it
        again: TaskDeferred | None = None
        try:
            return self.outcome(lambda: sensor.resume_execution("execute_complete", next_kwargs, {}))
        except TaskDeferred as err:  # silent_fail: the error is logged and the sensor defers again
            again = err
        assert isinstance(again.trigger, self.trigger_type)
        assert again.kwargs == info.value.kwargs  # the same deadline
        return self.outcome(lambda: deferral_timed_out(sensor))
