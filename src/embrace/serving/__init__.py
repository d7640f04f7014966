"""``embrace serve``: an OpenAI-compatible HTTP server with a continuous batching engine for causal LMs,
embeddings, the other pipeline tasks, Prometheus metrics and a web playground. See docs/serving.md."""

from embrace.serving.app import create_app, serve, serve_in_thread
from embrace.serving.config import ServeConfig
from embrace.serving.registry import ModelRegistry, default_specs, load_model_spec

__all__ = ["ModelRegistry", "ServeConfig", "create_app", "default_specs", "load_model_spec", "serve",
           "serve_in_thread"]
