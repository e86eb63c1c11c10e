"""Transactional outbox: events exist only if the change committed; subscribers run once."""

import itertools

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from comptoir.kernel import events
from comptoir.kernel.models import OutboxEvent, SubscriberRun

_names = itertools.count()


class Recorder:
    """A subscriber that records the events it saw, and fails while ``failing`` is set."""

    def __init__(self, key: str, failing: bool = False) -> None:
        self.key = key
        self.failing = failing
        self.seen: list[int] = []

    def __call__(self, event: OutboxEvent) -> None:
        if self.failing:
            raise RuntimeError("subscriber is down")
        self.seen.append(event.payload["n"])


@pytest.fixture
def subscribed():
    """Subscribe recorders to a fresh event name; unsubscribed after the test."""
    registered: list[tuple[str, str]] = []

    def make(*recorders: Recorder) -> str:
        name = f"test.event_{next(_names)}"
        for recorder in recorders:
            events.subscribe(name, recorder, key=recorder.key)
            registered.append((name, recorder.key))
        return name

    yield make
    for name, key in registered:
        events.unsubscribe(name, key)


@pytest.mark.django_db
def test_subscriber_runs_after_commit_not_before(subscribed, django_capture_on_commit_callbacks):
    recorder = Recorder("rec")
    name = subscribed(recorder)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            event = events.publish(name, company_id=1, payload={"n": 1})
            assert recorder.seen == []  # not yet: the change may still roll back
            assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.Status.PENDING
    assert len(callbacks) == 1
    assert recorder.seen == [1]
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DONE
    assert event.attempts == 1
    assert event.processed_at is not None
    assert SubscriberRun.objects.filter(event=event, subscriber="rec").count() == 1


@pytest.mark.django_db(transaction=True)
def test_real_commit_dispatches_inline(subscribed):
    recorder = Recorder("rec")
    name = subscribed(recorder)
    with transaction.atomic():
        events.publish(name, company_id=1, payload={"n": 7})
    assert recorder.seen == [7]
    assert OutboxEvent.objects.get(name=name).status == OutboxEvent.Status.DONE


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_publishes_nothing(subscribed):
    recorder = Recorder("rec")
    name = subscribed(recorder)
    with pytest.raises(RuntimeError, match="abort"), transaction.atomic():
        events.publish(name, company_id=1, payload={"n": 1})
        raise RuntimeError("abort")
    assert recorder.seen == []
    assert not OutboxEvent.objects.filter(name=name).exists()


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_raises(subscribed):
    name = subscribed(Recorder("rec"))
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        events.publish(name, company_id=1, payload={"n": 1})
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_dispatching_twice_runs_each_subscriber_once(subscribed):
    first, second = Recorder("first"), Recorder("second")
    name = subscribed(first, second)
    with transaction.atomic():
        event = events.publish(name, company_id=1, payload={"n": 3})
    # The test's outer transaction holds on_commit back: dispatch by hand, twice.
    assert events.dispatch(event.pk) is True
    # A duplicated delivery (the row was reset to pending by a crashed worker, say).
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.PENDING)
    assert events.dispatch(event.pk) is True
    assert first.seen == [3]
    assert second.seen == [3]
    assert SubscriberRun.objects.filter(event=event).count() == 2
    # A done event is skipped outright.
    assert events.dispatch(event.pk) is True
    assert OutboxEvent.objects.get(pk=event.pk).attempts == 2


@pytest.mark.django_db
def test_dispatch_of_a_missing_event_is_harmless():
    assert events.dispatch(999_999) is True


@pytest.mark.django_db
def test_failing_subscriber_marks_the_event_failed_and_is_retried(subscribed):
    healthy, flaky = Recorder("healthy"), Recorder("flaky", failing=True)
    name = subscribed(healthy, flaky)
    with transaction.atomic():
        event = events.publish(name, company_id=1, payload={"n": 5})
    assert events.dispatch(event.pk) is False
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.FAILED
    assert "flaky: subscriber is down" in event.last_error
    assert event.attempts == 1
    assert healthy.seen == [5]
    # The failed subscriber's run row was rolled back with it; the healthy one is kept.
    assert list(SubscriberRun.objects.filter(event=event).values_list("subscriber", flat=True)) == ["healthy"]

    # Still failing: retried, still failed, attempts counted.
    assert events.dispatch_pending() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxEvent.Status.FAILED, 2)

    flaky.failing = False
    assert events.dispatch_pending() == 1
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DONE
    assert event.attempts == 3
    assert event.last_error == ""
    assert flaky.seen == [5]
    assert healthy.seen == [5]  # not run again
    assert events.dispatch_pending() == 0


@pytest.mark.django_db
def test_dispatch_pending_picks_up_events_left_pending(subscribed):
    recorder = Recorder("rec")
    name = subscribed(recorder)
    with transaction.atomic():
        for n in range(3):
            events.publish(name, company_id=1, payload={"n": n})
    # The outer test transaction never commits, so nothing was dispatched: as after a worker crash.
    assert recorder.seen == []
    assert events.dispatch_pending(limit=2) == 2
    assert recorder.seen == [0, 1]
    assert events.dispatch_pending() == 1
    assert recorder.seen == [0, 1, 2]


def test_subscribe_is_idempotent_per_key():
    name = f"test.event_{next(_names)}"
    recorder = Recorder("same")
    events.subscribe(name, recorder, key="same")
    events.subscribe(name, recorder, key="same")
    try:
        assert [key for key, _ in events.subscribers_of(name)] == ["same"]
    finally:
        events.unsubscribe(name, "same")
    assert events.subscribers_of(name) == []


@pytest.mark.django_db
@override_settings(EVENTS_DISPATCH="task")
def test_task_dispatch_enqueues_dispatch_event(subscribed, django_capture_on_commit_callbacks):
    from django.tasks.signals import task_enqueued

    enqueued: list[tuple[str, list]] = []

    def spy(sender, task_result, **kwargs):
        enqueued.append((task_result.task.module_path, list(task_result.args)))

    task_enqueued.connect(spy)
    try:
        recorder = Recorder("rec")
        name = subscribed(recorder)
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                event = events.publish(name, company_id=1, payload={"n": 9})
    finally:
        task_enqueued.disconnect(spy)
    assert enqueued == [("comptoir.kernel.tasks.dispatch_event", [event.pk])]
    # The test settings use Django's ImmediateBackend: the task already ran.
    assert recorder.seen == [9]
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.Status.DONE


DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.mark.django_db(transaction=True)
@override_settings(EVENTS_DISPATCH="task", TASKS=DB_TASKS)
def test_task_dispatch_through_the_database_backend_and_db_worker(subscribed):
    from django_tasks_db.models import DBTaskResult

    recorder = Recorder("rec")
    name = subscribed(recorder)
    with transaction.atomic():
        event = events.publish(name, company_id=1, payload={"n": 11})
    # Enqueued, not run: the worker has not picked it up yet.
    assert recorder.seen == []
    result = DBTaskResult.objects.get()
    assert result.task_path == "comptoir.kernel.tasks.dispatch_event"
    assert result.args_kwargs["args"] == [event.pk]
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.Status.PENDING

    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)

    assert recorder.seen == [11]
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.Status.DONE
    result.refresh_from_db()
    assert result.status == "SUCCESSFUL"
    assert result.return_value is True


@pytest.mark.django_db(transaction=True)
def test_event_without_subscribers_is_written_done_with_nothing_after_commit():
    with transaction.atomic():
        event = events.publish("test.nobody_listens", company_id=1, payload={"n": (1, 2)})
        assert transaction.get_connection().run_on_commit == []  # nothing to dispatch
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert (stored.status, stored.attempts, stored.payload) == (OutboxEvent.Status.DONE, 1, {"n": [1, 2]})
    assert stored.processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_subscriber_gets_the_payload_as_stored(subscribed):
    seen = []
    name = f"test.event_{next(_names)}"
    events.subscribe(name, lambda event: seen.append(event.payload), key="payload.rec")
    try:
        with transaction.atomic():
            events.publish(name, company_id=1, payload={"ids": (3, 4), 5: "five"})
    finally:
        events.unsubscribe(name, "payload.rec")
    assert seen == [{"ids": [3, 4], "5": "five"}]
    assert OutboxEvent.objects.get(name=name).payload == seen[0]


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_runs_only_for_the_payloads_its_condition_wants():
    wanted, always = Recorder("wanted"), Recorder("always")
    name = f"test.event_{next(_names)}"
    events.subscribe(name, wanted, key="wanted", when=lambda payload: payload["n"] % 2 == 0)
    try:
        with transaction.atomic():
            skipped = events.publish(name, company_id=1, payload={"n": 1})
            # Nobody wants it: written done, nothing to dispatch after commit.
            assert transaction.get_connection().run_on_commit == []
        with transaction.atomic():
            kept = events.publish(name, company_id=1, payload={"n": 2})
        events.subscribe(name, always, key="always")  # a second subscriber without a condition
        with transaction.atomic():
            mixed = events.publish(name, company_id=1, payload={"n": 3})
    finally:
        events.unsubscribe(name, "wanted")
        events.unsubscribe(name, "always")
    assert (wanted.seen, always.seen) == ([2], [3])
    stored = {e.pk: (e.status, e.attempts) for e in OutboxEvent.objects.filter(name=name)}
    done = OutboxEvent.Status.DONE
    assert stored == {skipped.pk: (done, 1), kept.pk: (done, 1), mixed.pk: (done, 1)}
    runs = set(SubscriberRun.objects.filter(event__name=name).values_list("event_id", "subscriber"))
    assert runs == {(kept.pk, "wanted"), (mixed.pk, "always")}  # no run row for a subscriber not wanted
    # Unsubscribing drops the condition with the handler.
    events.subscribe(name, wanted, key="wanted")
    try:
        with transaction.atomic():
            events.publish(name, company_id=1, payload={"n": 5})
    finally:
        events.unsubscribe(name, "wanted")
    assert wanted.seen == [2, 5]
