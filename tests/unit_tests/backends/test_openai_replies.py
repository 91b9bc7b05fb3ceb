"""What OpenAICompatibleModel reads off a server's answer: streamed replies, refusals, unknown counts, async clients."""

import asyncio
import json
import threading

import pytest

from tests.fake_openai_server import FakeOpenAIServer, Reply
from vs_integrations import ParseError, VSEngine
from vs_integrations.backends.openai_compatible import LoopClients, OpenAICompatibleModel
from vs_integrations.backends.response_format import forget_learnt_styles
from vs_integrations.core.calls import GenerationSettings, ModelRequest, Usage

USER = [{"role": "user", "content": "hi"}]
VS = json.dumps({"responses": [{"text": "Ohio", "probability": 0.5}, {"text": "Utah", "probability": 0.5}]})


@pytest.fixture(autouse=True)
def fresh_styles():
    forget_learnt_styles()
    yield
    forget_learnt_styles()


def model(server, **options):
    return OpenAICompatibleModel("fake", base_url=server.base_url, **options)


def answer(message, *, finish_reason="stop", usage=True):
    """A chat completion whose message is ``message`` (with or without token counts)."""
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "served-name",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}]}  # fmt: skip
    if usage:
        body["usage"] = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    return Reply.json(body)


def event_stream(*events):
    """A server-sent event stream of chat-completion chunks (each a dict of chunk fields)."""
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake", **e} for e in events]
    return Reply(200, "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n", "text/event-stream")


def piece(text, finish_reason=None):
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish_reason}]}


# --- streaming ---------------------------------------------------------------------------------
def test_a_stream_cut_at_max_tokens_ends_with_its_finish_reason_and_the_servers_token_counts():
    # The stream used to count each chunk as a token and the prompt as 0, and drop the finish reason.
    with FakeOpenAIServer(default=Reply.completion("Ohio is a state th", finish_reason="length",
                                                    prompt_tokens=40, completion_tokens=8)) as server:  # fmt: skip
        backend = model(server)
        stream = backend.stream(USER, settings=GenerationSettings(max_tokens=8))
        assert "".join(stream) == "Ohio is a state th"
    reply = stream.reply
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("Ohio is a state th", 40, 8)
    assert reply.cut_at_token_limit and reply.model == "fake" and reply.schema_form == "none"
    assert server.requests[0]["stream_options"] == {"include_usage": True}
    assert backend.usage == Usage(1, 40, 8, backend.usage.seconds) and backend.usage.seconds > 0


def test_a_server_ignoring_include_usage_leaves_the_streamed_counts_unknown():
    with FakeOpenAIServer(default=event_stream(piece("one "), piece("two", "stop"))) as server:
        backend = model(server)
        stream = backend.stream(USER)
        assert list(stream) == ["one ", "two"]
    assert (stream.reply.text, stream.reply.finish_reason) == ("one two", "stop")
    assert (stream.reply.prompt_tokens, stream.reply.completion_tokens) == (None, None)
    assert (backend.usage.calls, backend.usage.total_tokens) == (1, 0)


def test_a_stream_closed_early_is_still_counted_once():
    with FakeOpenAIServer(default=Reply.completion("one two three")) as server:
        backend = model(server)
        stream = backend.stream(USER)
        assert next(stream) == "one "
        stream.close()
    assert stream.reply is None and backend.usage.calls == 1


# --- what the model said instead of content ----------------------------------------------------
def test_a_refusal_is_the_replys_text_marked_as_a_refusal():
    # The refusal used to be thrown away: the reply was "".
    refusal = {"content": None, "refusal": "I'm sorry, I can't help with that."}
    with FakeOpenAIServer(default=answer(refusal)) as server:
        reply = model(server).generate(ModelRequest(USER, None))
        assert (reply.text, reply.finish_reason) == ("I'm sorry, I can't help with that.", "refusal")
        # The engine's error keeps the words it could not read as candidates, and why.
        with pytest.raises(ParseError) as info:
            VSEngine(k=2, max_retries=0).run(model(server), "Name a US state.")
    assert info.value.raw == "I'm sorry, I can't help with that."
    assert info.value.calls[0].finish_reason == "refusal"


def test_reasoning_alone_is_the_replys_text_with_the_servers_finish_reason():
    thinking = {"content": "", "reasoning_content": "The user wants a state. Ohio, maybe"}
    with FakeOpenAIServer(default=answer(thinking, finish_reason="length")) as server:
        reply = model(server).generate(ModelRequest(USER, None))
    assert (reply.text, reply.finish_reason) == ("The user wants a state. Ohio, maybe", "length")


def test_token_counts_a_server_did_not_report_are_unknown_not_zero():
    with FakeOpenAIServer(default=answer({"content": VS}, usage=False)) as server:
        backend = model(server)
        reply = backend.generate(ModelRequest(USER, None))
    assert (reply.prompt_tokens, reply.completion_tokens, reply.model) == (None, None, "served-name")
    assert (backend.usage.calls, backend.usage.total_tokens) == (1, 0)


# --- async clients: one per event loop, each closed on its loop ----------------------------------
def test_each_event_loop_gets_its_own_client_closed_as_the_loop_shuts_down():
    # One client per asyncio.run used to pile up, none of them ever closed.
    with FakeOpenAIServer(default=Reply.completion(VS)) as server:
        backend = model(server)
        clients = []

        async def run():
            await VSEngine(k=2).arun(backend, "Name a US state.")
            clients.append(await backend._async_clients.get())

        asyncio.run(run())
        asyncio.run(run())
        assert clients[0] is not clients[1] and all(client.is_closed() for client in clients)
        assert len(backend._async_clients) == 1  # the first loop's entry dropped when the second came
        backend.close()
        assert len(backend._async_clients) == 0 and backend._client.is_closed()


async def test_aclose_closes_this_loops_client_before_returning():
    with FakeOpenAIServer(default=Reply.completion("ok")) as server:
        backend = model(server)
        assert await backend.acall(USER) == "ok"
        client = await backend._async_clients.get()
        await backend.aclose()
        assert client.is_closed() and backend._client.is_closed()


def test_close_has_a_loop_running_in_another_thread_close_its_client():
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        with FakeOpenAIServer(default=Reply.completion("ok")) as server:
            backend = model(server)
            assert asyncio.run_coroutine_threadsafe(backend.acall(USER), loop).result(timeout=30) == "ok"
            client = asyncio.run_coroutine_threadsafe(backend._async_clients.get(), loop).result(timeout=30)
            backend.close()  # from this thread, while the client's loop runs in its own

            async def closed():
                while not client.is_closed():
                    await asyncio.sleep(0.01)

            asyncio.run_coroutine_threadsafe(asyncio.wait_for(closed(), 30), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=30)
        loop.close()


def test_loop_clients_make_one_client_per_loop():
    made = []

    class Client:
        closed = False

        def __init__(self):
            made.append(self)

        async def close(self):
            self.closed = True

    clients = LoopClients(Client)

    async def twice():
        return await clients.get(), await clients.get()

    first, again = asyncio.run(twice())
    assert first is again and len(made) == 1 and first.closed
