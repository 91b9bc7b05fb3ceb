"""A scripted DSPy LM on DSPy's engine route: it answers whatever output fields a prompt asks for.

Unlike ``DummyLM`` it goes through ``dspy.LM`` (cache included), and it can serve optimizers,
whose prompt programs ask for fields a test does not know in advance. ``Brainstorm`` is the small
program the optimizer tests compile.
"""

import re
import threading
from collections.abc import Callable

import dspy
from dspy.clients.engines.base import validate_request
from dspy.lm15 import Message, Response, TextPart, Usage, response_to_events

from vs_integrations.dspy import VerbalizedSampling

_RESPOND = "Respond with the corresponding output fields"
_FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]")

Answer = Callable[[str, list[dict[str, str]]], str]


def requested_fields(messages: list[dict[str, str]]) -> list[str]:
    """The output fields the ChatAdapter's last user message asks for, in order."""
    last = messages[-1]["content"]
    tail = last[last.rfind(_RESPOND) :] if _RESPOND in last else ""
    return [name for name in _FIELD.findall(tail) if name != "completed"]


class ScriptedEngine:
    """``complete(Request) -> Response``: each requested field is filled by ``answer(field, messages)``."""

    supports_response_schema = False
    supported_params = frozenset({"temperature", "max_tokens", "top_p"})

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, object]] = []
        self.usage = Usage(input_tokens=1, output_tokens=1, total_tokens=2)
        self.finish_reason = "stop"
        self._lock = threading.Lock()

    def complete(self, request):
        validate_request(request)
        messages = []
        if request.system is not None:
            system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
            messages.append({"role": "system", "content": system})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        with self._lock:
            self.requests.append({"messages": messages, "temperature": request.config.temperature})
        body = "".join(f"[[ ## {name} ## ]]\n{self.answer(name, messages)}\n\n" for name in requested_fields(messages))
        return Response(
            id=None,
            model="scripted",
            message=Message.assistant([TextPart(body + "[[ ## completed ## ]]")]),
            finish_reason=self.finish_reason,
            usage=self.usage,
        )

    def stream(self, request):
        return response_to_events(self.complete(request))

    def close(self):
        pass


def scripted_lm(answer: Answer, *, cache: bool = False) -> tuple[dspy.LM, ScriptedEngine]:
    engine = ScriptedEngine(answer)
    return dspy.LM("scripted/test", engine=engine, cache=cache), engine


class Brainstorm(dspy.Module):
    """A program holding the module as one of its parts, as users compose it."""

    def __init__(self):
        super().__init__()
        self.ideas = VerbalizedSampling("topic -> idea", k=2, seed=0)

    def forward(self, topic):
        return self.ideas(topic=topic)
