"""embrace: the Hugging Face workflow in one package.

Importing ``embrace`` is cheap: no torch, numpy or pyarrow is imported until a name that needs it is used.
Top-level names resolve on first access through ``__getattr__`` (PEP 562) from the table below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # configs and models
    "PretrainedConfig": "embrace.models.configuration",
    "AutoConfig": "embrace.models.auto",
    "AutoModel": "embrace.models.auto",
    "AutoModelForSequenceClassification": "embrace.models.auto",
    "AutoModelForTokenClassification": "embrace.models.auto",
    "AutoModelForQuestionAnswering": "embrace.models.auto",
    "AutoModelForMaskedLM": "embrace.models.auto",
    "AutoModelForCausalLM": "embrace.models.auto",
    "AutoModelForSeq2SeqLM": "embrace.models.auto",
    "PreTrainedModel": "embrace.models.modeling",
    # causal LMs and generation
    "LlamaConfig": "embrace.models.llama", "LlamaForCausalLM": "embrace.models.llama",
    "MistralConfig": "embrace.models.llama", "MistralForCausalLM": "embrace.models.llama",
    "Qwen2Config": "embrace.models.llama", "Qwen2ForCausalLM": "embrace.models.llama",
    "GPT2Config": "embrace.models.gpt2", "GPT2LMHeadModel": "embrace.models.gpt2",
    # session 2: Gemma, GPT-NeoX, Phi, OPT
    "GemmaConfig": "embrace.models.gemma", "GemmaForCausalLM": "embrace.models.gemma",
    "GPTNeoXConfig": "embrace.models.gpt_neox", "GPTNeoXForCausalLM": "embrace.models.gpt_neox",
    "PhiConfig": "embrace.models.phi", "PhiForCausalLM": "embrace.models.phi",
    "Phi3Config": "embrace.models.phi3", "Phi3ForCausalLM": "embrace.models.phi3",
    "OPTConfig": "embrace.models.opt", "OPTForCausalLM": "embrace.models.opt",
    "DynamicCache": "embrace.models.cache", "StaticCache": "embrace.models.cache",
    "GenerationConfig": "embrace.generation.config",
    "LogitsProcessor": "embrace.generation.logits", "LogitsProcessorList": "embrace.generation.logits",
    "StoppingCriteria": "embrace.generation.stopping", "StoppingCriteriaList": "embrace.generation.stopping",
    "TextStreamer": "embrace.generation.streamers", "TextIteratorStreamer": "embrace.generation.streamers",
    # BART-shaped encoder-decoders (BART, mBART, Marian, Pegasus) and their tokenizers
    "BartConfig": "embrace.models.bart", "BartModel": "embrace.models.bart",
    "BartForConditionalGeneration": "embrace.models.bart", "BartForSequenceClassification": "embrace.models.bart",
    "MBartConfig": "embrace.models.bart_variants", "MBartForConditionalGeneration": "embrace.models.bart_variants",
    "MarianConfig": "embrace.models.bart_variants", "MarianMTModel": "embrace.models.bart_variants",
    "PegasusConfig": "embrace.models.bart_variants",
    "PegasusForConditionalGeneration": "embrace.models.bart_variants",
    "MarianTokenizer": "embrace.tokenizers.marian", "MBartTokenizer": "embrace.tokenizers.mbart",
    "MBart50Tokenizer": "embrace.tokenizers.mbart",
    # T5 / mT5 and the encoder-decoder cache
    "T5Config": "embrace.models.t5", "T5Model": "embrace.models.t5", "T5ForConditionalGeneration": "embrace.models.t5",
    "T5EncoderModel": "embrace.models.t5", "MT5Config": "embrace.models.t5", "MT5Model": "embrace.models.t5",
    "MT5ForConditionalGeneration": "embrace.models.t5", "MT5EncoderModel": "embrace.models.t5",
    "EncoderDecoderCache": "embrace.models.cache",
    # tokenizers
    "AutoTokenizer": "embrace.tokenization",
    "PreTrainedTokenizer": "embrace.tokenization",
    "PreTrainedTokenizerFast": "embrace.tokenization",
    "BatchEncoding": "embrace.tokenization",
    "Tokenizer": "embrace.tokenizers",
    "AddedToken": "embrace.tokenizers",
    # datasets
    "Dataset": "embrace.data",
    "DatasetDict": "embrace.data",
    "IterableDataset": "embrace.data",
    "load_dataset": "embrace.data",
    "load_from_disk": "embrace.data",
    "concatenate_datasets": "embrace.data",
    "interleave_datasets": "embrace.data",
    "Features": "embrace.data",
    "Value": "embrace.data",
    "ClassLabel": "embrace.data",
    "Sequence": "embrace.data",
    # hub
    "hf_hub_download": "embrace.hub",
    "snapshot_download": "embrace.hub",
    "HfApi": "embrace.hub",
    # pipelines
    "pipeline": "embrace.pipelines",
    "Pipeline": "embrace.pipelines",
    # training
    "Trainer": "embrace.training.trainer",
    "TrainingArguments": "embrace.training.arguments",
    "TrainerCallback": "embrace.training.callbacks",
    "EarlyStoppingCallback": "embrace.training.callbacks",
    "EvalPrediction": "embrace.training.predictions",
    "DataCollatorWithPadding": "embrace.training.collators",
    "DataCollatorForLanguageModeling": "embrace.training.collators",
    "DataCollatorForSeq2Seq": "embrace.training.collators",
    "DataCollatorForTokenClassification": "embrace.training.collators",
    "default_data_collator": "embrace.training.collators",
    "get_scheduler": "embrace.training.schedules",
    "set_seed": "embrace.training.predictions",
    "Accelerator": "embrace.training.accelerator",
    "FullyShardedDataParallelPlugin": "embrace.training.fsdp",
    # parameter-efficient fine-tuning (LoRA, PEFT file format)
    "LoraConfig": "embrace.peft", "TaskType": "embrace.peft", "PeftConfig": "embrace.peft",
    "PeftModel": "embrace.peft", "PeftModelForCausalLM": "embrace.peft",
    "PeftModelForSequenceClassification": "embrace.peft", "get_peft_model": "embrace.peft",
    "IA3Config": "embrace.peft",
    # web demos (embrace.ui, Gradio-style)
    "Interface": "embrace.ui", "Textbox": "embrace.ui", "Number": "embrace.ui", "Slider": "embrace.ui",
    "Dropdown": "embrace.ui", "Checkbox": "embrace.ui", "Label": "embrace.ui", "JSON": "embrace.ui",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'embrace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # cache: the next access skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from embrace.models.auto import AutoConfig, AutoModel  # noqa: F401
