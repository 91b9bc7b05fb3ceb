"""Model backends, each a module imported on demand.

The call contract (``base``), the embedded model (``local``), OpenAI-compatible servers
(``openai_compatible``) and the reply-schema dialects they negotiate (``response_format``).

Submodules are imported on demand: ``local`` needs llama.cpp, ``openai_compatible`` the OpenAI
client.
"""
