"""LocalModel's call contract against a scripted llama.cpp stand-in (no model is loaded)."""

import math
import threading

import pytest

from vs_integrations import ContextTooLong, InvalidSetting, RequestRefused, ResponseFormatRefused
from vs_integrations.backends import local
from vs_integrations.backends.base import DEFAULT_SETTINGS
from vs_integrations.backends.local import LocalModel, call_seed
from vs_integrations.core.calls import GenerationSettings, ModelRequest, Usage

USER = [{"role": "user", "content": "Tell a story"}]


class FakeLlama:
    """What LocalModel uses of ``llama_cpp.Llama``: tokenize, metadata, create_chat_completion."""

    def __init__(self, text="once upon a time", finish_reason="stop", error=None):
        self.metadata = {}  # no chat template: the prompt is counted from the messages' text
        self.text, self.finish_reason, self.error = text, finish_reason, error
        self.usage = True  # False: the completion carries no usage
        self.calls = []
        self.stopped_early = False
        self.gate = None  # set to an Event: the stream waits for it after its first chunk

    def tokenize(self, data, add_bos=False, special=False):
        return data.split()  # one token a word; the count is what matters

    def create_chat_completion(self, **kwargs):
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        if kwargs.get("stream"):
            return self._chunks()
        completion = {"choices": [{"message": {"content": self.text}, "finish_reason": self.finish_reason}]}
        if self.usage:
            completion["usage"] = {"prompt_tokens": 7, "completion_tokens": len(self.text.split())}
        return completion

    def _chunks(self):
        words = self.text.split()
        try:
            for index, word in enumerate(words):
                if index == 1 and self.gate is not None:
                    assert self.gate.wait(timeout=30)
                yield {"choices": [{"delta": {"content": word + " "}, "finish_reason": None}]}
            # As llama.cpp ends a stream: an empty delta with the finish reason.
            yield {"choices": [{"delta": {}, "finish_reason": self.finish_reason}]}
        except GeneratorExit:
            self.stopped_early = True
            raise


@pytest.fixture
def llama(monkeypatch):
    fake = FakeLlama()
    lock = threading.Lock()
    monkeypatch.setattr(local, "_load", lambda path, n_ctx, n_threads: (fake, lock))
    return fake


def test_request_settings_reach_llama_cpp_and_override_the_models(llama, tmp_path):
    model = LocalModel(tmp_path / "m.gguf", temperature=0.9, max_tokens=100, seed=3)
    settings = GenerationSettings(temperature=0.1, top_p=0.5, max_tokens=8, seed=11, stop=("END",))
    model.generate(ModelRequest(USER, None, settings))
    sent = llama.calls[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"], sent["stop"]) == (
        0.1, 0.5, 8, 11, ["END"]
    )  # fmt: skip
    model.generate(ModelRequest(USER, None))
    sent = llama.calls[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (0.9, 1.0, 100, call_seed(3, 0))
    assert "stop" not in sent


def test_the_reply_carries_tokens_finish_reason_model_and_form(llama, tmp_path):
    llama.finish_reason = "length"
    model = LocalModel(tmp_path / "m.gguf")
    reply = model.generate(ModelRequest(USER, {"type": "object"}))
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("once upon a time", 7, 4)
    assert reply.cut_at_token_limit and reply.model == "m.gguf" and reply.schema_form == "json_object"
    assert reply.seconds is not None and reply.seconds >= 0 and reply.attempts == 1
    assert llama.calls[-1]["response_format"] == {"type": "json_object", "schema": {"type": "object"}}
    assert (model.usage.calls, model.usage.prompt_tokens, model.usage.completion_tokens) == (1, 7, 4)


def test_a_reply_without_usage_has_unknown_tokens_not_zero(llama, tmp_path):
    llama.usage = False
    reply = LocalModel(tmp_path / "m.gguf").generate(ModelRequest(USER, None))
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("once upon a time", None, None)


def test_a_stream_ends_with_the_whole_reply_its_finish_reason_and_tokens(llama, tmp_path):
    # The stream used to report each chunk as one token, and no finish reason: a cut reply looked whole.
    llama.text, llama.finish_reason = "a b c d e f g h", "length"
    model = LocalModel(tmp_path / "m.gguf")
    stream = model.stream(USER, {"type": "object"}, GenerationSettings(max_tokens=8))
    assert "".join(stream) == "a b c d e f g h "
    reply = stream.reply
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("a b c d e f g h ", 3 + 4, 8)
    assert reply.cut_at_token_limit and reply.model == "m.gguf" and reply.schema_form == "json_object"
    assert reply.seconds is not None and reply.seconds >= 0
    assert model.usage == Usage(1, 7, 8, model.usage.seconds)


def test_a_stream_read_with_yield_from_returns_its_reply(llama, tmp_path):
    model = LocalModel(tmp_path / "m.gguf")
    replies = []

    def relay():
        replies.append((yield from model.stream(USER)))

    assert list(relay()) == ["once ", "upon ", "a ", "time "]
    assert replies[0].text == "once upon a time " and replies[0].finish_reason == "stop"


def test_the_adapters_streams_end_with_the_replys_usage_and_finish_reason(llama, tmp_path):
    from vs_integrations.langchain import ChatLocalModel
    from vs_integrations.llama_index import LocalLLM

    llama.finish_reason = "length"
    chat = ChatLocalModel()
    chat._model = LocalModel(tmp_path / "m.gguf")
    *_, last = chat.stream("x")
    # The last chunk used to say 0 prompt tokens and no finish reason.
    assert last.usage_metadata == {"input_tokens": 1 + 4, "output_tokens": 4, "total_tokens": 9}
    assert last.response_metadata["finish_reason"] == "length"
    llm = LocalLLM(model_path=str(tmp_path / "m.gguf"))
    llm._model = LocalModel(tmp_path / "m.gguf")
    pieces = list(llm.stream_complete("x"))
    assert pieces[-1].text == "once upon a time " and [p.raw for p in pieces[:-1]] == [None] * 3
    assert pieces[-1].raw["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert pieces[-1].raw["finish_reason"] == "length"


def test_calling_the_model_while_iterating_its_stream_does_not_deadlock(llama, tmp_path):
    # The stream used to hold the model's lock across `yield`: this call waited for it forever.
    model = LocalModel(tmp_path / "m.gguf")
    pieces, inner, done = [], [], threading.Event()

    def consume():
        for piece in model.stream(USER):
            pieces.append(piece)
            if len(inner) == 0:
                inner.append(model(USER))
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    assert done.wait(timeout=30), "a call made while iterating the model's stream never returned"
    assert "".join(pieces) == "once upon a time " and inner == ["once upon a time"]
    assert model.usage.calls == 2


def test_closing_a_stream_early_stops_the_generation(llama, tmp_path):
    llama.text, llama.gate = " ".join(["word"] * 1000), threading.Event()
    model = LocalModel(tmp_path / "m.gguf")
    stream = model.stream(USER, settings=GenerationSettings(max_tokens=5))
    assert next(stream) == "word "
    stream.close()
    llama.gate.set()  # the worker may go on: it sees the stream closed at its next chunk
    _, lock = local._load(model.model_path, model.n_ctx, model.n_threads)
    assert lock.acquire(timeout=30), "the stream's worker kept the model's lock"
    lock.release()
    assert llama.stopped_early and llama.calls[-1]["max_tokens"] == 5
    assert model.usage.completion_tokens < 1000


def test_a_prompt_too_long_counts_the_prompt_alone(llama, tmp_path):
    model = LocalModel(tmp_path / "m.gguf", n_ctx=4, max_tokens=100)
    with pytest.raises(ContextTooLong) as info:
        model.generate(ModelRequest([{"role": "user", "content": "one two three four five"}], None))
    assert (info.value.prompt_tokens, info.value.limit) == (5 + 4, 4)  # five words + the role's 4 tokens
    assert llama.calls == []  # refused before generating


def test_llama_cpp_errors_are_typed(llama, tmp_path):
    model = LocalModel(tmp_path / "m.gguf")
    llama.error = ValueError("Requested tokens (3000) exceed context window of 2048")
    with pytest.raises(ContextTooLong) as info:
        model.generate(ModelRequest(USER, None))
    assert (info.value.prompt_tokens, info.value.limit) == (3000, 2048)
    llama.error = ValueError("failed to parse grammar")
    with pytest.raises(ResponseFormatRefused):
        model.generate(ModelRequest(USER, {"type": "object"}))
    with pytest.raises(RequestRefused) as refused:
        model.generate(ModelRequest(USER, None))
    assert type(refused.value) is RequestRefused and "grammar" in refused.value.body


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"seed": 1.5}, "seed"),
        ({"n_threads": 0}, "n_threads"),
        ({"n_ctx": 0}, "n_ctx"),
    ],
)
def test_arguments_are_checked_at_construction(options, field, tmp_path):
    with pytest.raises(InvalidSetting) as info:
        LocalModel(tmp_path / "m.gguf", **options)
    assert info.value.field == field and field in str(info.value)


def test_defaults_are_the_shared_ones(tmp_path):
    model = LocalModel(tmp_path / "m.gguf")
    assert model.settings == DEFAULT_SETTINGS
    assert (model.n_ctx, DEFAULT_SETTINGS.temperature) == (local.DEFAULT_N_CTX, 0.7)
