"""The VS prompt text and the JSON Schema of a reply.

The wording is ours; it follows the structure of the paper's prompts (k responses, each with a
probability, sampled from the full distribution) and never shows an example probability, since
small models copy it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .config import VSConfig

Message = dict[str, str]

_PROBABILITY_PHRASES: dict[str, str] = {
    "implicit": "a number saying how likely it is",
    "explicit": "its probability (from 0.0 to 1.0) relative to the full distribution of possible responses",
    "relative": "its likelihood (from 0.0 to 1.0) relative to the other responses you list",
    "percentage": "its probability as a percentage (from 0 to 100) of the full distribution of possible responses",
    "confidence": "your confidence (from 0.0 to 1.0) that it is a response you would give",
    "perplexity": "its perplexity under your own distribution (lower means more likely)",
    "nll": "its negative log-likelihood under your own distribution (lower means more likely)",
}


def _probability_key_hint(config: VSConfig) -> str:
    return "a number" if config.probability != "percentage" else "a number from 0 to 100"


def format_instructions(config: VSConfig, count: int | None = None) -> str:
    """The part of the prompt that fixes the reply format.

    Args:
        config: The VS settings (``format`` and ``variant`` matter here).
        count: Number of responses the reply holds; defaults to ``config.turn_size``.

    Returns:
        Plain text; JSON braces are literal (escape them for templating engines).

    """
    n = config.turn_size if count is None else count
    cot = config.variant == "cot"
    number = _probability_key_hint(config)
    if config.format == "json":
        reasoning = '"reasoning" (a string: your step-by-step thinking, written first) and ' if cot else ""
        return (
            f'Reply with a JSON object only, with the keys {reasoning}"responses": a list of exactly {n} '
            f'objects, each with "text" (the response, a string) and "probability" ({number}).'
        )
    if config.format == "xml":
        lead = "First write your step-by-step thinking inside <reasoning></reasoning>. Then write" if cot else "Write"
        return (
            f"{lead} exactly {n} responses, each as "
            f"<response><text>the response</text><probability>{number}</probability></response>."
        )
    reasoning = "First write your step-by-step thinking in a paragraph starting with 'Reasoning:'. " if cot else ""
    return (
        f"{reasoning}Write exactly {n} responses as a numbered list (1., 2., ...); end each item with "
        f"(Probability: {number})."
    )


def system_prompt(config: VSConfig, count: int | None = None) -> str:
    """The VS instruction given to the model before the user's request.

    Args:
        config: The VS settings.
        count: Responses asked for in this call; defaults to ``config.turn_size``.

    """
    n = config.turn_size if count is None else count
    parts = [
        f"For the user's request, generate {n} different responses, each with "
        f"{_PROBABILITY_PHRASES[config.probability]}."
    ]
    if config.variant == "multi" and n < config.k:
        parts[0] = (
            f"For the user's request, generate the first {n} of {config.k} different responses, each with "
            f"{_PROBABILITY_PHRASES[config.probability]}."
        )
    parts.append("Sample the responses at random from the full distribution of possible responses.")
    if config.tail is not None:
        parts.append(f"Each response's probability must be below {config.tail:g}.")
    if config.variant == "cot":
        parts.append("Before the responses, think step by step about the space of possible responses.")
    parts.append(format_instructions(config, n))
    return " ".join(parts)


# A follow-up lists at most this many held responses (the most recent), each cut to this many
# characters, so the prompt stays bounded however many candidates a long collection holds.
MAX_LISTED = 30
MAX_LISTED_CHARS = 200


def _listing(held: Sequence[str]) -> str:
    return _last_listed(
        held,
        f"You have already given {len(held)} response{'s' if len(held) != 1 else ''}:",
        "You have already given {total} responses; the last {shown} are:",
    )


def _refusal(refused: Sequence[str]) -> str:
    listed = _last_listed(
        refused,
        "These responses were refused as invalid answers:",
        "{total} responses were refused as invalid answers; the last {shown} are:",
    )
    return f"{listed}\nDo not give them again; give valid answers only."


def _last_listed(texts: Sequence[str], intro: str, cut_intro: str) -> str:
    """The last :data:`MAX_LISTED` of ``texts``, numbered as in the whole list, under ``intro``.

    ``cut_intro`` (with ``{total}`` and ``{shown}``) replaces ``intro`` when earlier ones are left out.
    """
    shown = list(texts)[-MAX_LISTED:]
    earlier = len(texts) - len(shown)
    heading = cut_intro.format(total=len(texts), shown=len(shown)) if earlier else intro
    return f"{heading}\n{_numbered(shown, earlier + 1)}"


def _numbered(texts: Sequence[str], first: int) -> str:
    lines = []
    for number, text in enumerate(texts, first):
        flat = " ".join(text.split())
        if len(flat) > MAX_LISTED_CHARS:
            flat = flat[: MAX_LISTED_CHARS - 3] + "..."
        lines.append(f"{number}. {flat}")
    return "\n".join(lines)


def followup_message(
    config: VSConfig,
    count: int | None = None,
    *,
    held: Sequence[str] | None = None,
    refused: Sequence[str] | None = None,
) -> Message:
    """The user turn that asks for more responses, different from those already given.

    The ``multi`` variant sends it after each turn (the conversation shows the earlier turns);
    the engine's top-up retries and :meth:`~vs_integrations.VSEngine.distinct` pass ``held``,
    the responses collected so far, which the message lists (at most the last
    :data:`MAX_LISTED`, each cut to :data:`MAX_LISTED_CHARS` characters). ``refused`` lists, the
    same way, the responses the engine's ``valid`` check refused, telling the model not to
    give them again.

    Args:
        config: The VS settings.
        count: Responses asked for; defaults to ``config.turn_size``.
        held: Responses already collected, to be listed and avoided.
        refused: Responses refused as invalid, to be named and avoided.

    Example:
        >>> followup_message(VSConfig(k=3), 1, held=["Ohio", "Utah"])["content"].splitlines()[:3]
        ['You have already given 2 responses:', '1. Ohio', '2. Utah']
        >>> followup_message(VSConfig(k=3), 1, refused=["Houston"])["content"].splitlines()[:2]
        ['These responses were refused as invalid answers:', '1. Houston']

    """
    n = config.turn_size if count is None else count
    ask = (
        f"Generate {n} alternative response{'s' if n != 1 else ''} to the original request, different from all "
        f"the responses {'listed' if held or refused else 'above'}, each with "
        f"{_PROBABILITY_PHRASES[config.probability]}. " + format_instructions(config, n)
    )
    parts = [_listing(held)] if held else []
    if refused:
        parts.append(_refusal(refused))
    return {"role": "user", "content": "\n\n".join([*parts, ask])}


SIGNATURE_FIELD_DESCRIPTIONS: dict[str, str] = {
    "count": "how many different candidates to generate",
    "ceiling": "every candidate's probability must be below this value",
    "candidates": "the candidates, each with its output fields and its probability",
    "reasoning": "step-by-step thinking about the space of possible responses",
}
"""Descriptions of the fields a VS signature adds (count, ceiling, candidates, reasoning)."""


def signature_instructions(
    config: VSConfig, outputs: Sequence[str], *, count_field: str = "k", ceiling_field: str | None = None
) -> str:
    """The VS instruction for a declarative signature (DSPy), with settings given as input fields.

    The count (and the probability ceiling, for tail sampling) are named input fields rather
    than numbers, so an optimizer may rewrite this text while the settings stay data.

    Args:
        config: The VS settings (``probability`` and ``variant`` shape the text).
        outputs: The output field names each candidate carries.
        count_field: The input field holding the number of candidates.
        ceiling_field: The input field holding the tail threshold, if tail sampling is on.
    """
    named = ", ".join(f"`{name}`" for name in outputs)
    parts = [
        f"Generate `{count_field}` different candidates. Each candidate gives {named} and `probability`: "
        f"{_PROBABILITY_PHRASES[config.probability]}.",
        "Sample the candidates at random from the full distribution of possible responses.",
    ]
    if ceiling_field is not None:
        parts.append(f"Each candidate's probability must be below `{ceiling_field}`.")
    if config.variant == "cot":
        parts.append("First reason step by step about the space of possible responses.")
    return " ".join(parts)


def build_messages(
    instruction: str | Sequence[Message], config: VSConfig | None = None, *, count: int | None = None
) -> list[Message]:
    """Chat messages that ask for a verbalized distribution.

    Args:
        instruction: The user's request, or a list of ``{"role", "content"}`` messages (kept; a
            leading system message gets the VS instruction appended to it).
        config: The VS settings (default ``VSConfig()``).
        count: Responses asked for in this call; defaults to ``config.turn_size``.

    Returns:
        A new list of ``{"role": ..., "content": ...}`` dicts.

    Raises:
        ValueError: If the instruction is empty or a message is malformed.

    """
    cfg = config or VSConfig()
    vs = system_prompt(cfg, count)
    if isinstance(instruction, str):
        if not instruction.strip():
            raise ValueError("instruction must be a non-empty string or a non-empty list of messages")
        return [{"role": "system", "content": vs}, {"role": "user", "content": instruction}]
    messages: list[Message] = []
    for position, message in enumerate(instruction):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise ValueError(
                f"instruction message {position} must be a dict with string 'role' and 'content'; got {message!r}"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    if not any(message["content"].strip() for message in messages):
        raise ValueError("instruction must be a non-empty string or a list of messages with some non-empty content")
    if messages[0]["role"] == "system":
        messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{vs}"}
    else:
        messages.insert(0, {"role": "system", "content": vs})
    return messages


def sequence_messages(instruction: str, k: int) -> list[Message]:
    """The *Sequence* baseline: ask for ``k`` responses in one call, with no probabilities."""
    VSConfig(k=k)  # validates k
    return [
        {
            "role": "system",
            "content": f"For the user's request, generate {k} different responses. Reply with a JSON object only, "
            f'with the key "responses": a list of exactly {k} objects, each with "text" (the response, a string).',
        },
        {"role": "user", "content": instruction},
    ]


def sequence_schema(k: int) -> dict[str, Any]:
    """JSON Schema of a *Sequence* reply: ``k`` texts, no probabilities."""
    item = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"responses": {"type": "array", "minItems": k, "maxItems": k, "items": item}},
        "required": ["responses"],
        "additionalProperties": False,
    }


def json_schema(config: VSConfig | None = None, count: int | None = None) -> dict[str, Any]:
    """JSON Schema of a reply, for constrained decoding and structured-output APIs.

    Args:
        config: The VS settings (default ``VSConfig()``).
        count: Items the list must hold (``minItems == maxItems``); defaults to ``config.turn_size``.

    """
    cfg = config or VSConfig()
    n = cfg.turn_size if count is None else count
    properties: dict[str, Any] = {}
    if cfg.variant == "cot":
        properties["reasoning"] = {"type": "string"}
    properties["responses"] = {
        "type": "array",
        "minItems": n,
        "maxItems": n,
        "items": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "probability": {"type": "number"}},
            "required": ["text", "probability"],
            "additionalProperties": False,
        },
    }
    return {
        "title": "VerbalizedResponses",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
