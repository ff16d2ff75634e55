"""Sharegpt turns -> what a chat template or an OpenAI server expects, and generated ids -> text.

Shared by the HF and vLLM backends so that both build byte-identical prompts and decode answers
the same way (the vLLM test compares their outputs token for token).

    >>> split_content("<image>Where is the cat?")
    [None, 'Where is the cat?']
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from metricsft.eval.backends.base import IMAGE_PLACEHOLDER


def load_chat_tokenizers(model: str) -> tuple[Any, Any, str, bool]:
    """`(template_owner, tokenizer, model_type, is_vision)` for a local model directory.

    Vision-language models (any type in transformers' image-text-to-text mapping) get their
    processor, which owns the chat template and the image preprocessing; text models get the tokenizer.
    """
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = transformers.AutoConfig.from_pretrained(model).model_type
    if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        processor = transformers.AutoProcessor.from_pretrained(model)
        return processor, processor.tokenizer, model_type, True
    tokenizer = transformers.AutoTokenizer.from_pretrained(model)
    return tokenizer, tokenizer, model_type, False


def split_content(content: str) -> list[str | None]:
    """Split a turn on `<image>`: text pieces stay strings, each image becomes None (order kept)."""
    parts: list[str | None] = []
    for i, piece in enumerate(content.split(IMAGE_PLACEHOLDER)):
        if i > 0:
            parts.append(None)
        if piece:
            parts.append(piece)
    return parts


def multimodal_messages(messages: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """Turns with typed content parts (`{"type": "image"}` / `{"type": "text"}`), the form HF
    processors' chat templates read; they insert each model's own image tokens at the image parts."""
    out = []
    for message in messages:
        parts = [{"type": "image"} if p is None else {"type": "text", "text": p} for p in split_content(message["content"])]
        out.append({"role": message["role"], "content": parts})
    return out


def text_messages(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def render_prompt(template_owner: Any, messages: Sequence[dict[str, str]], has_images: bool, model_type: str) -> str:
    """The prompt text the model sees: its own chat template with the generation prompt appended.

    `template_owner` is a tokenizer (text models) or a processor (vision models). PaliGemma has no
    chat template by design: it is trained on the bare prefix and its processor adds the image
    tokens and BOS itself, so it gets the user text alone.
    """
    if getattr(template_owner, "chat_template", None):
        conversation = multimodal_messages(messages) if has_images else text_messages(messages)
        return template_owner.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    if model_type == "paligemma":
        return "\n".join(p for m in messages if m["role"] == "user" for p in split_content(m["content"]) if p)
    raise ValueError(
        f"the {model_type!r} model's tokenizer/processor has no chat_template; add one to its "
        "tokenizer_config.json (or chat_template.jinja) so prompts match training"
    )


def stop_token_ids(*sources: Any) -> set[int]:
    """EOS ids from generation configs / tokenizers (an int, a list, or None each)."""
    ids: set[int] = set()
    for source in sources:
        value = getattr(source, "eos_token_id", None)
        if value is None:
            continue
        ids.update([value] if isinstance(value, int) else value)
    return ids


def decode_answer(tokenizer: Any, token_ids: Iterable[int], stop_ids: set[int]) -> str:
    """Text of the generated ids up to (not including) the first stop token.

    Special tokens are KEPT: Qwen2-VL writes boxes between `<|box_start|>`/`<|box_end|>`, which are
    special tokens that the default `skip_special_tokens=True` would erase. Cutting at EOS instead
    removes the only special tokens that are not part of an answer (EOS and the padding after it).
    """
    kept = []
    for token_id in token_ids:
        if int(token_id) in stop_ids:
            break
        kept.append(int(token_id))
    return tokenizer.decode(kept, skip_special_tokens=False)
