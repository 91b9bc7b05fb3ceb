"""VerbalizedLLM: any LlamaIndex LLM answering with a draw, in chat engines, agents and token counting."""

import json

import httpx
import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.chat_engine import CondensePlusContextChatEngine, SimpleChatEngine
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.core.output_parsers.base import OutputParserException

from vs_integrations import BackendUnreachable, ContextTooLong, InvalidSetting, ParseError, SettingsError, VSConfig
from vs_integrations.llama_index import VerbalizedLLM, VerbalizedParseError

from .scripted import ScriptedLLM, vs_reply

USER = [ChatMessage(role=MessageRole.USER, content="Name a US state.")]
# What docs/llama_index.md lists for each raw["calls"] entry.
CALL_KEYS = (
    "kind",
    "added",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "finish_reason",
    "model",
    "schema_form",
    "attempts",
)


def candidates(response):
    return [c["text"] for c in response.additional_kwargs["verbalized_distribution"]["candidates"]]


def test_chat_answers_with_one_drawn_candidate_and_keeps_the_distribution():
    inner = ScriptedLLM(replies=[vs_reply("Ohio", "Utah", "Iowa")])
    response = VerbalizedLLM(inner, k=3, seed=0).chat(USER)
    assert response.message.role == MessageRole.ASSISTANT
    assert candidates(response) == ["Ohio", "Utah", "Iowa"]
    assert response.message.content == candidates(response)[response.additional_kwargs["sampled_index"]]
    ((messages, kwargs),) = inner.calls
    assert messages[0].role == MessageRole.SYSTEM and "3" in messages[0].content  # the VS instruction
    assert messages[-1].content == "Name a US state."
    assert kwargs["response_format"]["type"] == "json_schema"


async def test_every_entry_point_gives_the_drawn_answer():
    def llm():
        return VerbalizedLLM(ScriptedLLM(replies=[vs_reply("tea", "coffee")]), k=2)

    assert llm().complete("Drink?").text in {"tea", "coffee"}
    assert (await llm().acomplete("Drink?")).text in {"tea", "coffee"}
    assert (await llm().achat(USER)).message.content in {"tea", "coffee"}
    chunks = list(llm().stream_chat(USER))
    assert len(chunks) == 1 and chunks[0].delta == chunks[0].message.content in {"tea", "coffee"}
    assert "verbalized_distribution" in chunks[0].additional_kwargs
    achunks = [chunk async for chunk in await llm().astream_chat(USER)]
    assert len(achunks) == 1 and achunks[0].delta in {"tea", "coffee"}
    completed = list(llm().stream_complete("Drink?"))
    assert len(completed) == 1 and completed[0].delta == completed[0].text in {"tea", "coffee"}
    acompleted = [chunk async for chunk in await llm().astream_complete("Drink?")]
    assert acompleted[0].text in {"tea", "coffee"}


def test_a_short_reply_is_topped_up_through_the_inner_llm():
    inner = ScriptedLLM(replies=[vs_reply("Ohio"), vs_reply("Utah")])
    response = VerbalizedLLM(inner, k=2).chat(USER)
    assert candidates(response) == ["Ohio", "Utah"] and len(inner.calls) == 2
    assert [call["kind"] for call in response.raw["calls"]] == ["first", "top-up"]


def test_a_simple_chat_engine_keeps_only_drawn_answers_in_its_history():
    inner = ScriptedLLM(replies=[vs_reply("Ohio", "Utah"), vs_reply("Texas", "Maine")])
    engine = SimpleChatEngine.from_defaults(llm=VerbalizedLLM(inner, k=2))
    first = engine.chat("Name a US state.")
    second = engine.chat("Another one?")
    assert first.response in {"Ohio", "Utah"} and second.response in {"Texas", "Maine"}
    history = [m.content for m in engine.chat_history]
    assert history == ["Name a US state.", first.response, "Another one?", second.response]
    # The second VS call sees the conversation with the drawn answer, never the raw JSON reply.
    sent = [m.content for m in inner.calls[1][0]]
    assert sent[1:] == ["Name a US state.", first.response, "Another one?"]


def test_condense_plus_context_chat_engine_answers_from_retrieved_context(index):
    inner = ScriptedLLM(replies=[vs_reply("Paris", "France")])
    engine = CondensePlusContextChatEngine.from_defaults(
        index.as_retriever(similarity_top_k=1), llm=VerbalizedLLM(inner, k=2)
    )
    assert engine.chat("Where is the Eiffel Tower?").response in {"Paris", "France"}
    sent = "\n".join(m.content for m in inner.calls[0][0])
    assert "Where is the Eiffel Tower?" in sent and "is in" in sent  # the retrieved passage


def test_index_as_chat_engine_takes_it(index):
    inner = ScriptedLLM(replies=[vs_reply("Rome", "Italy")])
    engine = index.as_chat_engine(chat_mode="condense_plus_context", llm=VerbalizedLLM(inner, k=2))
    assert engine.chat("Where is the Colosseum?").response in {"Rome", "Italy"}


async def test_a_react_agent_acts_on_a_drawn_step():
    from llama_index.core.agent.workflow import ReActAgent

    step = "Thought: I can answer without any tool.\nAnswer: {}"
    inner = ScriptedLLM(replies=[vs_reply(step.format("Ohio"), step.format("Utah"))])
    agent = ReActAgent(tools=[], llm=VerbalizedLLM(inner, k=2))
    result = await agent.run("Name a US state.")
    assert str(result) in {"Ohio", "Utah"}


def test_the_distribution_reaches_instrumentation_from_inside_a_chat_engine():
    seen = []

    class Collect(BaseEventHandler):
        def handle(self, event, **kwargs):
            if isinstance(event, LLMChatEndEvent) and event.response is not None:
                seen.append(event.response.additional_kwargs.get("verbalized_distribution"))

    dispatcher = get_dispatcher()
    handler = Collect()
    dispatcher.add_event_handler(handler)
    try:
        engine = SimpleChatEngine.from_defaults(llm=VerbalizedLLM(ScriptedLLM(replies=[vs_reply("a", "b")]), k=2))
        engine.chat("Pick one.")
    finally:
        dispatcher.event_handlers.remove(handler)
    assert [len(d["candidates"]) for d in seen if d] == [2]


def test_token_counting_sees_the_inner_calls_tokens_once():
    counter = TokenCountingHandler()
    inner = ScriptedLLM(replies=[vs_reply("Ohio"), vs_reply("Utah")], usage=(100, 40))
    response = VerbalizedLLM(inner, k=2, callback_manager=CallbackManager([counter])).chat(USER)
    assert response.raw["usage"] == {"prompt_tokens": 200, "completion_tokens": 80, "total_tokens": 280}
    assert len(counter.llm_token_counts) == 1  # one LLM event per VS call
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (200, 80)
    assert [call["finish_reason"] for call in response.raw["calls"]] == ["stop", "stop"]
    assert {call["model"] for call in response.raw["calls"]} == {"scripted-1"}


def test_a_handler_on_both_llms_counts_each_inner_call_once_and_the_sum_never():
    counter = TokenCountingHandler(tokenizer=str.split)
    shared = CallbackManager([counter])  # as Settings.callback_manager gives both LLMs
    inner = ScriptedLLM(replies=[vs_reply("Ohio"), vs_reply("Utah")], usage=(100, 40), callback_manager=shared)
    response = VerbalizedLLM(inner, k=2, callback_manager=shared).chat(USER)
    counts = [(event.prompt_token_count, event.completion_token_count) for event in counter.llm_token_counts]
    # Each inner call as reported, then the wrapper's own event, which LlamaIndex estimates by its
    # tokenizer (the user's turn, the drawn answer) as for any LLM event reporting no usage.
    assert counts[:2] == [(100, 40), (100, 40)] and len(counts) == 3
    assert counts[2][0] < 20 and counts[2][1] < 5  # a few words, not the 200 + 80 again
    assert "usage" not in response.raw
    assert response.raw["verbalized_usage"] == {"prompt_tokens": 200, "completion_tokens": 80, "total_tokens": 280}


def test_the_calls_entries_have_the_documented_keys():
    inner = ScriptedLLM(replies=[vs_reply("Ohio"), vs_reply("Utah")], usage=(100, 40))
    response = VerbalizedLLM(inner, k=2).chat(USER)
    first, top_up = response.raw["calls"]
    assert set(first) == set(CALL_KEYS)
    assert (first["kind"], first["added"], top_up["kind"], top_up["added"]) == ("first", 1, "top-up", 1)


def test_per_call_settings_reach_the_inner_llm_and_vs_keywords_override_the_config():
    inner = ScriptedLLM(replies=[vs_reply("a", "b")])
    VerbalizedLLM(inner, k=5).chat(USER, k=2, temperature=0.2, max_tokens=50, stop=["END"], top_k=3)
    kwargs = inner.calls[0][1]
    assert (kwargs["temperature"], kwargs["max_tokens"], kwargs["stop"], kwargs["top_k"]) == (0.2, 50, ["END"], 3)
    assert kwargs["response_format"]["json_schema"]["schema"]["properties"]["responses"]["maxItems"] == 2


def test_a_bad_per_call_setting_is_refused_before_any_call():
    inner = ScriptedLLM(replies=[vs_reply("a")])
    with pytest.raises(InvalidSetting) as info:
        VerbalizedLLM(inner, k=1).chat(USER, temperature=float("nan"))
    assert info.value.field == "temperature" and not inner.calls


def test_a_per_call_seed_seeds_the_inner_calls_and_the_draw():
    def drawn(seed):
        inner = ScriptedLLM(replies=[vs_reply(*"abcdefgh")])
        response = VerbalizedLLM(inner, k=8).chat(USER, seed=seed)
        assert inner.calls[0][1]["seed"] == seed
        return response.message.content

    assert len({drawn(7) for _ in range(3)}) == 1
    assert len({drawn(seed) for seed in range(12)}) > 1


def test_the_inner_llms_connection_error_is_backend_unreachable_with_the_cause():
    down = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
    with pytest.raises(BackendUnreachable) as info:
        VerbalizedLLM(ScriptedLLM(replies=[down]), k=2).chat(USER)
    assert info.value.__cause__ is down


async def test_a_context_length_error_is_context_too_long_async_too():
    too_long = ValueError("This model's maximum context length is 4096 tokens")
    with pytest.raises(ContextTooLong) as info:
        await VerbalizedLLM(ScriptedLLM(replies=[too_long]), k=2).achat(USER)
    assert info.value.limit == 4096 and info.value.__cause__ is too_long


def test_other_inner_errors_pass_unchanged():
    with pytest.raises(KeyError):
        VerbalizedLLM(ScriptedLLM(replies=[KeyError("x")]), k=2).chat(USER)


def test_an_unreadable_reply_is_both_our_parse_error_and_llamaindexs():
    llm = VerbalizedLLM(ScriptedLLM(replies=["no list here", "still prose"]), k=2, max_retries=1, on_failure="raise")
    with pytest.raises(OutputParserException) as info:
        llm.chat(USER)
    assert isinstance(info.value, ParseError) and isinstance(info.value, VerbalizedParseError)
    assert "still prose" in info.value.raw


def test_settings_errors_name_the_field_and_never_print_the_inner_model():
    inner = ScriptedLLM(replies=[])
    with pytest.raises(SettingsError, match=r"^VerbalizedLLM: llm must be a LlamaIndex LLM.*got str$") as info:
        VerbalizedLLM("gpt-4o")
    assert info.value.field == "llm"
    with pytest.raises(ValueError, match=r"\bk\b") as bad_k:
        VerbalizedLLM(inner, k=0)
    assert "ScriptedLLM" not in str(bad_k.value) and len(str(bad_k.value)) < 200
    with pytest.raises(SettingsError, match=r"'kk'.*did you mean 'k'"):
        VerbalizedLLM(inner, kk=5)
    with pytest.raises(InvalidSetting, match="schema_style must be one of"):
        VerbalizedLLM(inner, schema_style="xml")
    assert VerbalizedLLM(inner, VSConfig(k=4), tail=0.1).vs_config == VSConfig(k=4, tail=0.1)


def test_metadata_is_the_inner_llms_window_and_it_calls_no_tools():
    metadata = VerbalizedLLM(ScriptedLLM(replies=[], context_window=1234)).metadata
    assert metadata.context_window == 1234 and metadata.model_name == "scripted"
    assert metadata.is_chat_model and not metadata.is_function_calling_model


def test_to_dict_keeps_the_vs_settings_and_from_dict_rebuilds_them():
    inner = ScriptedLLM(replies=[vs_reply("a", "b", "c")])
    llm = VerbalizedLLM(inner, k=3, seed=2, tail=0.1, schema_style="json_object")
    llm.system_prompt = "Be brief."
    data = json.loads(llm.to_json())
    assert data["vs_config"]["k"] == 3
    rebuilt = VerbalizedLLM.from_dict(data, llm=inner)
    assert rebuilt.vs_config == llm.vs_config
    assert (rebuilt.schema_style, rebuilt.system_prompt) == ("json_object", "Be brief.")


def test_from_dict_refuses_a_dict_without_the_vs_settings_or_the_inner_llm():
    inner = ScriptedLLM(replies=[])
    data = VerbalizedLLM(inner, k=3).to_dict()
    with pytest.raises(SettingsError, match="vs_config"):
        VerbalizedLLM.from_dict({key: value for key, value in data.items() if key != "vs_config"}, llm=inner)
    with pytest.raises(SettingsError, match="llm="):
        VerbalizedLLM.from_dict(data)


def test_the_parse_error_survives_pickling_with_its_reply():
    import pickle

    copy = pickle.loads(pickle.dumps(VerbalizedParseError("no candidate", "just prose")))
    assert isinstance(copy, OutputParserException) and (copy.raw, str(copy)) == ("just prose", "no candidate")


def test_a_parse_error_rewrapped_for_llama_index_keeps_the_engines_trace():
    from vs_integrations import ParseError
    from vs_integrations.core.calls import CallRecord
    from vs_integrations.llama_index._driver import VerbalizedParseError

    ours = ParseError("no candidate", "prose", None, calls=[CallRecord("first", prompt_tokens=9)])
    twin = VerbalizedParseError.of(ours)
    assert (twin.raw, twin.calls) == ("prose", ours.calls)
