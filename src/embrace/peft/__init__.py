"""Parameter-efficient fine-tuning: LoRA adapters in the PEFT file format (``adapter_config.json`` +
``adapter_model.safetensors``), API-compatible with the PEFT library. See docs/peft.md."""

from embrace.peft.config import LoraConfig, PeftConfig, PeftType, TaskType
from embrace.peft.errors import (
    AdapterConfigError,
    AdapterError,
    AdapterWeightsError,
    TargetModulesNotFoundError,
    UnknownAdapterError,
    UnsupportedTargetError,
)
from embrace.peft.lora import LoraEmbedding, LoraLayer, LoraLinear, ModulesToSaveWrapper
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
from embrace.peft.tuner import LoraModel

__all__ = [
    "AdapterConfigError", "AdapterError", "AdapterWeightsError", "LoraConfig", "LoraEmbedding", "LoraLayer",
    "LoraLinear", "LoraModel", "ModulesToSaveWrapper", "PeftConfig", "PeftModel", "PeftModelForCausalLM",
    "PeftModelForFeatureExtraction", "PeftModelForQuestionAnswering", "PeftModelForSeq2SeqLM",
    "PeftModelForSequenceClassification", "PeftModelForTokenClassification", "PeftType",
    "TargetModulesNotFoundError", "TaskType", "UnknownAdapterError", "UnsupportedTargetError", "get_peft_model",
    "get_peft_model_state_dict",
]
