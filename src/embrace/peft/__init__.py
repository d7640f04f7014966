"""Parameter-efficient fine-tuning: LoRA and (IA)^3 adapters in the PEFT file format (``adapter_config.json`` +
``adapter_model.safetensors``), API-compatible with the PEFT library. See docs/peft.md."""

from embrace.peft.config import IA3Config, LoraConfig, PeftConfig, PeftType, TaskType
from embrace.peft.errors import (
    AdapterConfigError,
    AdapterError,
    AdapterWeightsError,
    TargetModulesNotFoundError,
    UnknownAdapterError,
    UnsupportedTargetError,
)
from embrace.peft.ia3 import IA3Linear
from embrace.peft.layers import AdapterLayer, ModulesToSaveWrapper
from embrace.peft.lora import LoraEmbedding, LoraLayer, LoraLinear
from embrace.peft.model import (
    PeftModel,
    PeftModelForCausalLM,
    PeftModelForFeatureExtraction,
    PeftModelForQuestionAnswering,
    PeftModelForSeq2SeqLM,
    PeftModelForSequenceClassification,
    PeftModelForTokenClassification,
    get_peft_model,
)
from embrace.peft.saving import adapter_state_dict as get_peft_model_state_dict
from embrace.peft.tuner import IA3Model, LoraModel

__all__ = [
    "AdapterConfigError", "AdapterError", "AdapterLayer", "IA3Config", "IA3Linear", "IA3Model", "AdapterWeightsError", "LoraConfig", "LoraEmbedding", "LoraLayer",
    "LoraLinear", "LoraModel", "ModulesToSaveWrapper", "PeftConfig", "PeftModel", "PeftModelForCausalLM",
    "PeftModelForFeatureExtraction", "PeftModelForQuestionAnswering", "PeftModelForSeq2SeqLM",
    "PeftModelForSequenceClassification", "PeftModelForTokenClassification", "PeftType",
    "TargetModulesNotFoundError", "TaskType", "UnknownAdapterError", "UnsupportedTargetError", "get_peft_model",
    "get_peft_model_state_dict",
]
