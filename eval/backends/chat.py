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


class PromptRenderer:
    """Builds the prompt text a model sees: its own chat template plus the generation prompt.

    Three ways, decided once per model (`mode`, recorded in results.json):
      * "parts": the template reads typed content parts (HF processors' standard, e.g. Qwen2-VL,
        llava-hf) and inserts the model's image tokens itself;
      * "string": the template only concatenates string contents (Vicuna-style LLaVA templates, as
        LLaMA-Factory writes them); each `<image>` becomes the processor's own image token;
      * "raw": PaliGemma is trained on the bare prefix without any chat template; its processor adds
        the image tokens and BOS itself, so it gets the user text alone.
    """

    def __init__(self, template_owner: Any, model_type: str, is_vision: bool) -> None:
        self.owner, self.model_type = template_owner, model_type
        if model_type == "paligemma":
            self.mode = "raw"
        elif not getattr(template_owner, "chat_template", None):
            raise ValueError(
                f"the {model_type!r} model's tokenizer/processor has no chat_template; add one to its "
                "tokenizer_config.json (or chat_template.jinja) so prompts match training"
            )
        elif is_vision and not self._takes_parts():
            self.mode = "string"
        else:
            self.mode = "parts"
        # The chat template writes BOS itself where the model wants one; only the raw mode relies on
        # the tokenizer/processor adding special tokens.
        self.add_special_tokens = self.mode == "raw"

    def _takes_parts(self) -> bool:
        probe = [{"role": "user", "content": [{"type": "text", "text": "probe"}]}]
        try:
            rendered = self.owner.apply_chat_template(probe, add_generation_prompt=True, tokenize=False)
        except TypeError:  # jinja: "can only concatenate list (not str) to list"
            return False
        return "probe" in rendered and "'type'" not in rendered

    def render(self, messages: Sequence[dict[str, str]], has_images: bool) -> str:
        if self.mode == "raw":
            return "\n".join(p for m in messages if m["role"] == "user" for p in split_content(m["content"]) if p)
        if not has_images:
            conversation: list[dict[str, Any]] = text_messages(messages)
        elif self.mode == "parts":
            conversation = multimodal_messages(messages)
        else:
            token = self.owner.image_token
            conversation = [{"role": m["role"], "content": m["content"].replace(IMAGE_PLACEHOLDER, token)} for m in messages]
        return self.owner.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


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
