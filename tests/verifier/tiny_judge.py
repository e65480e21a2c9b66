"""Tiny chat models for the in-process judge backend, built from fixed seeds with a local tokenizer.

Two Llama models share one word-level tokenizer (built with ``tokenizers``) and a ChatML template:

- ``random``: random weights (seed 0); it answers a stream of words, i.e. garbage.
- ``yes`` (and ``yes-no-system``, whose template refuses a system message): a bigram machine
  whose attention and MLP outputs are zero, so the logits depend only on
  the last token: after ``assistant`` it says ``equivalent``, after that ``<|im_end|>`` (its EOS).
  A deterministic "always equivalent" judge, to drive the overturn and the guards in process.

Each is a few hundred KB, built in well under a second.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# the same, refusing a system message (as Gemma's and Mistral v1's templates do)
NO_SYSTEM_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIALS = ["[PAD]", "[UNK]", "<|im_start|>", "<|im_end|>"]
WORDS = str.split(
    "system user assistant equivalent not_equivalent invalid_answer Label answer reference question "
    "the a is of to and student text twelve dozen how many eggs 0 1 2 3 4 5 6 7 8 9 12 42 : < > / - { } \\"
)
VOCAB = SPECIALS + WORDS
VOCAB += [f"w{i}" for i in range(64 - len(VOCAB))]  # pad to 64 = hidden size of the bigram machine
SEED = 0


def build_tokenizer(out: Path, template: str = CHAT_TEMPLATE) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|im_end|>"
    )
    fast.chat_template = template
    fast.save_pretrained(out)


def build(out_dir: Path, kind: str) -> Path:
    """Write the ``kind`` ("random", "yes", or "yes-no-system": "yes" with a template that refuses
    system messages) model to ``out_dir/kind`` and return that directory."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = out_dir / kind
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out, NO_SYSTEM_TEMPLATE if kind == "yes-no-system" else CHAT_TEMPLATE)
    ids = {w: i for i, w in enumerate(VOCAB)}
    config = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=len(VOCAB),
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["[PAD]"],
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).eval()
    if kind in ("yes", "yes-no-system"):
        nxt = {t: ids["<|im_end|>"] for t in range(len(VOCAB))}
        nxt[ids["assistant"]] = ids["equivalent"]
        with torch.no_grad():
            model.model.embed_tokens.weight.copy_(torch.eye(len(VOCAB)))
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            head = torch.zeros(len(VOCAB), len(VOCAB))
            for t, n in nxt.items():
                head[n, t] = 1.0
            model.lm_head.weight.copy_(head)
    elif kind != "random":
        raise ValueError(f"unknown tiny judge kind {kind!r}")
    model.save_pretrained(out)
    GenerationConfig(
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["[PAD]"], do_sample=False
    ).save_pretrained(out)
    return out
