"""OpenAICompatibleModel's max_in_flight cap, and a request past its timeout told apart as BackendTimeout."""

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fake_openai_server import FakeOpenAIServer, Reply
from vs_integrations import BackendTimeout, BackendUnreachable, InvalidSetting, VSConfig, VSEngine
from vs_integrations.backends.openai_compatible import OpenAICompatibleModel
from vs_integrations.core.calls import ModelRequest
from vs_integrations.tools.batch import is_transient, timed_out

USER = [{"role": "user", "content": "hi"}]
STATES = json.dumps({"responses": [{"text": s, "probability": 0.3} for s in ("Ohio", "Utah", "Iowa")]})


def model(server, **options):
    return OpenAICompatibleModel("fake", base_url=server.base_url, **options)


def wait_until(condition, what, seconds=60.0):
    """Poll a state the calls reach on their own (generous deadline: the machine may be busy)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def release_one_at_a_time(server, backend, calls, limit, release):
    """Answer the calls one by one, each time once every outstanding call is at the server or
    waiting for a slot (none in transit or being read): then the server's count is all the
    concurrency there is, and must be at most ``limit``."""

    def settled(remaining):
        at_server, slots = server.in_flight, backend.slots
        return slots.in_flight == at_server and at_server + slots.waiting == remaining

    try:
        for remaining in range(calls, 0, -1):
            wait_until(
                lambda remaining=remaining: settled(remaining),
                f"{remaining} outstanding calls at the server or waiting",
            )
            assert server.in_flight == min(limit, remaining), (server.in_flight, backend.slots.waiting)
            release.release()
    except BaseException:
        for _ in range(calls):  # let the server's threads go
            release.release()
        raise


def held_answers():
    """A server answer that waits for the test's release (a semaphore: one release, one answer)."""
    release = threading.Semaphore(0)

    def answer(request):
        assert release.acquire(timeout=120), "the test never released this request"
        return Reply.completion(STATES)

    return release, answer


def test_async_calls_never_have_more_than_max_in_flight_at_the_server():
    release, answer = held_answers()
    with FakeOpenAIServer(default=answer) as server:
        backend = model(server, max_in_flight=2)
        engine = VSEngine(VSConfig(k=3), max_retries=0)

        async def six_calls():
            return await asyncio.gather(*(engine.arun(backend, f"Name a US state ({i}).") for i in range(6)))

        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(asyncio.run, six_calls())
            release_one_at_a_time(server, backend, 6, 2, release)
            distributions = running.result(timeout=120)
        assert [len(dist) for dist in distributions] == [3] * 6 and len(server.requests) == 6
        assert server.max_in_flight == 2
        assert (backend.slots.in_flight, backend.slots.waiting) == (0, 0) and backend.slots.longest_wait > 0
        # A later event loop gets a semaphore of its own (the first one's belongs to a closed loop).
        release.release()
        assert len(asyncio.run(engine.arun(backend, "Name a US state."))) == 3


def test_sync_calls_share_the_cap_across_threads():
    release, answer = held_answers()
    with FakeOpenAIServer(default=answer) as server:
        backend = model(server, max_in_flight=1)
        with ThreadPoolExecutor(3) as pool:
            replies = [pool.submit(backend.generate, ModelRequest(USER, None)) for _ in range(3)]
            release_one_at_a_time(server, backend, 3, 1, release)
            assert [reply.result(timeout=120).text for reply in replies] == [STATES] * 3
        assert server.max_in_flight == 1


def test_a_stream_holds_its_slot_until_it_ends():
    with FakeOpenAIServer(default=Reply.completion("one two three")) as server:
        backend = model(server, max_in_flight=1)
        chunks = backend.stream(USER)
        assert next(chunks) == "one " and backend.slots.in_flight == 1
        assert "".join(chunks) == "two three" and backend.slots.in_flight == 0


def test_the_wait_for_a_slot_counts_against_neither_the_timeout_nor_the_replys_seconds():
    # Two calls, one slot: the second waits about a second for it and is answered a second later,
    # past the 1.9 s timeout in all, but each request alone is well within it.
    with FakeOpenAIServer(default=Reply.completion("ok", delay=1.0)) as server:
        backend = model(server, max_in_flight=1, timeout=1.9, max_retries=0)

        async def two_calls():
            start = time.perf_counter()
            replies = await asyncio.gather(*(backend.agenerate(ModelRequest(USER, None)) for _ in range(2)))
            return replies, time.perf_counter() - start

        replies, wall = asyncio.run(two_calls())
    assert [reply.text for reply in replies] == ["ok", "ok"] and wall >= 2.0
    assert backend.slots.longest_wait >= 0.5 and backend.slots.waited_seconds >= backend.slots.longest_wait
    assert all(reply.seconds is not None and reply.seconds < 1.9 for reply in replies)


@pytest.mark.parametrize("max_in_flight", [None, 3])
def test_a_request_past_its_timeout_is_a_backend_timeout_that_says_what_may_help(max_in_flight):
    with FakeOpenAIServer(default=lambda request: Reply.hang()) as server:
        backend = model(server, timeout=0.3, max_in_flight=max_in_flight)
        with pytest.raises(BackendTimeout) as sync_info:
            backend.generate(ModelRequest(USER, None))
        with pytest.raises(BackendTimeout) as async_info:
            asyncio.run(backend.agenerate(ModelRequest(USER, None)))
        assert len(server.requests) == 2  # not retried
    for info in (sync_info, async_info):
        error = info.value
        assert isinstance(error, BackendUnreachable) and (error.timeout, error.in_flight) == (0.3, 1)
        message = str(error)
        assert "accepted the request but did not answer within 0.3 s" in message and "busy or hung" in message
        assert "max_in_flight" in message and "timeout=" in message
        # vs generate's classification: a timeout, not retried, so it becomes the prompt's record.
        assert timed_out(error) and not is_transient(error)


def test_a_refused_connection_is_no_timeout():
    backend = OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(BackendUnreachable, match="could not reach") as info:
        backend(USER)
    assert not isinstance(info.value, BackendTimeout)


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_max_in_flight_is_checked_at_construction(value):
    with pytest.raises(InvalidSetting) as info:
        OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", max_in_flight=value)
    assert info.value.field == "max_in_flight" and "max_in_flight" in str(info.value)
