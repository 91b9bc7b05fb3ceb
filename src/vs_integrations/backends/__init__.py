"""Model backends, each a module imported on demand.

What every backend shares and the paper's default settings (``base``; the call contract itself
is :mod:`vs_integrations.core.calls`), the embedded model (``local``), OpenAI-compatible servers
(``openai_compatible``), the reply-schema dialects they negotiate (``response_format``), the
retry policy (``retry``) and a foreign model's errors read as the package's (``errors``, which
every adapter uses).

Submodules are imported on demand: ``local`` needs llama.cpp, ``openai_compatible`` the OpenAI
client.
"""
