"""The embedded model honours a call's own settings through generate()."""

import pytest

from vs_integrations.backends.local import LocalModel
from vs_integrations.core.calls import GenerationSettings, ModelRequest

pytestmark = pytest.mark.integration


def test_a_per_call_max_tokens_caps_the_reply():
    model = LocalModel(seed=3, max_tokens=512)
    request = ModelRequest(
        [{"role": "user", "content": "Write a long story about a dragon."}], None, GenerationSettings(max_tokens=8)
    )
    reply = model.generate(request)
    assert reply.completion_tokens is not None and 1 <= reply.completion_tokens <= 8
    assert reply.finish_reason == "length" and reply.model == model.model_name
    # A larger per-call cap gives a longer reply from the same model object.
    longer = model.generate(ModelRequest(request.messages, None, GenerationSettings(max_tokens=40)))
    assert longer.completion_tokens is not None and 8 < longer.completion_tokens <= 40
