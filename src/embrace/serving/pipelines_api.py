"""``/v1/pipelines`` (what is served) and ``POST /v1/pipelines/{task}`` with ``{"inputs": ..., "parameters":
{...}, "model": optional}``: the other pipeline tasks, answered with the pipeline's own output as JSON.

``text-generation`` goes through the batching engine of the served causal LM (so it shares the running batch with
the chat requests); the other tasks run their pipeline in a worker thread, one call at a time per model.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from embrace.serving.openai_api import EventStream, collect, finished_choice, read_json, submit
from embrace.serving.protocol import ApiError, field_of
from embrace.serving.registry import ModelRegistry
from embrace.serving.sampling import SamplingParams


def to_json(value: Any) -> Any:
    """Pipeline outputs (numpy/torch scalars and arrays inside lists and dicts) as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def generation_params(parameters: dict[str, Any], remaining: int) -> SamplingParams:
    sample = bool(parameters.get("do_sample", False))
    max_new = parameters.get("max_new_tokens", 50)
    if not isinstance(max_new, int) or isinstance(max_new, bool) or not 1 <= max_new <= remaining:
        raise ApiError(400, f"'max_new_tokens' must be an integer between 1 and {remaining}",
                       param="parameters.max_new_tokens", code="invalid_value")
    temperature = field_of(parameters, "temperature", (int, float), 1.0)
    top_p = field_of(parameters, "top_p", (int, float), 1.0)
    if not (temperature > 0 and 0 < top_p <= 1):
        raise ApiError(400, "'temperature' must be > 0 and 'top_p' in (0, 1]", param="parameters", code="invalid_value")
    return SamplingParams(max_tokens=max_new, temperature=float(temperature) if sample else 0.0, top_p=float(top_p),
                          seed=field_of(parameters, "seed", int))


def build_pipelines_router(registry: ModelRegistry) -> APIRouter:
    router = APIRouter()
    config = registry.config

    @router.get("/v1/pipelines")
    async def list_pipelines() -> dict[str, Any]:
        tasks: dict[str, list[str]] = {task: [p.id for p in pipes] for task, pipes in registry.pipelines.items()}
        if registry.chat:
            tasks.setdefault("text-generation", []).extend(registry.chat)
        return {"object": "list", "data": [{"task": task, "models": models} for task, models in sorted(tasks.items())]}

    @router.post("/v1/pipelines/{task}")
    async def run_pipeline(task: str, request: Request) -> Any:
        from embrace.pipelines import PipelineInputError, UnknownTaskError, check_task

        body = await read_json(request, config.max_request_bytes)
        try:
            task = check_task(task)
        except UnknownTaskError as exc:
            raise ApiError(404, str(exc), param="task", code="unknown_task") from None
        inputs = body.get("inputs")
        if inputs is None:
            raise ApiError(400, "'inputs' is required", param="inputs", code="missing_required_parameter")
        parameters = field_of(body, "parameters", dict, {})
        if task == "text-generation" and task not in registry.pipelines:
            return await generate_text(request, inputs, parameters, body.get("model"))
        if task not in registry.pipelines:
            served = ", ".join(sorted(registry.pipelines)) or "none"
            raise ApiError(404, f"no model is served for task '{task}' (served tasks: {served}); start the server "
                                f"with {task}=MODEL", param="task", code="model_not_found")
        pipe = registry.pipeline_model(task, body.get("model"))
        try:
            result = await run_in_threadpool(pipe, inputs, **parameters)
        except (PipelineInputError, TypeError, ValueError) as exc:
            raise ApiError(400, f"{task}: {exc}", param="inputs", code="invalid_value") from None
        return to_json(result)

    async def generate_text(request: Request, inputs: Any, parameters: dict[str, Any], model: Any) -> Any:
        served = registry.chat_model(model)
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise ApiError(400, "text-generation 'inputs' must be a non-empty string or a list of them",
                           param="inputs", code="invalid_value")
        prompts = [[int(i) for i in served.tokenizer(t)["input_ids"]] for t in texts]
        params = generation_params(parameters, served.engine.max_model_len - max(len(p) for p in prompts))
        stream = EventStream()
        handle = submit(served, prompts, params, 1, stream, config.retry_after_s)
        outputs = [finished_choice(events)[0] for events in await collect(request, stream, len(prompts), handle)]
        full = parameters.get("return_full_text", True)
        results = [[{"generated_text": (t + o) if full else o}] for t, o in zip(texts, outputs)]
        return results[0] if isinstance(inputs, str) else results

    return router
