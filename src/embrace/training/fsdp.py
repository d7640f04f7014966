"""Fully sharded data parallelism through torch's own FSDP2 (``torch.distributed.fsdp.fully_shard``).

Every process holds 1/N of each parameter, gradient and optimizer state; a wrapped unit (by default each
transformer layer, plus the root for what is left: embeddings, head) is all-gathered just before it runs and freed
after (``reshard_after_forward=True``, the reference's ``full_shard``) or kept until backward (``shard_grad_op``).
FSDP2 runs on CPU with the ``gloo`` backend as well as on CUDA with ``nccl`` (FSDP1's ``FullyShardedDataParallel``
is not used: FSDP2 is the version transformers 5 and accelerate default to).

Checkpoints are *full* state dicts: every process joins the gather, the main process writes the usual
``save_pretrained`` folder (so it loads with ``from_pretrained``) and an optimizer state keyed by parameter name,
which any sharding layout or world size can load again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embrace.training.callbacks import TrainerError

logger = logging.getLogger(__name__)

WRAP_POLICIES = ("transformer_based_wrap", "size_based_wrap", "no_wrap")
SHARDING = {"full_shard": True, "shard_grad_op": False}  # -> FSDP2's reshard_after_forward
FSDP1_ONLY = ("no_shard", "hybrid_shard", "hybrid_shard_zero2")
# FSDP1 tuning knobs that FSDP2 does without (prefetching is implicit, original parameters are always used)
_FSDP1_KNOBS = ("backward_prefetch", "forward_prefetch", "limit_all_gathers", "use_orig_params",
                "sync_module_states", "cpu_ram_efficient_loading", "xla", "xla_fsdp_v2", "xla_fsdp_grad_ckpt")
CONFIG_KEYS = ("version", "min_num_params", "transformer_layer_cls_to_wrap", "auto_wrap_policy", "reshard_after_forward",
               "cpu_offload", "offload_params", "state_dict_type", "activation_checkpointing", *_FSDP1_KNOBS)


# accelerate's environment variables (what `accelerate launch` sets) -> plugin fields
_ENV = {"FSDP_VERSION": "fsdp_version", "FSDP_RESHARD_AFTER_FORWARD": "reshard_after_forward",
        "FSDP_SHARDING_STRATEGY": "sharding_strategy", "FSDP_AUTO_WRAP_POLICY": "auto_wrap_policy",
        "FSDP_TRANSFORMER_CLS_TO_WRAP": "transformer_cls_names_to_wrap", "FSDP_MIN_NUM_PARAMS": "min_num_params",
        "FSDP_OFFLOAD_PARAMS": "cpu_offload", "FSDP_STATE_DICT_TYPE": "state_dict_type",
        "FSDP_ACTIVATION_CHECKPOINTING": "activation_checkpointing"}


class FSDPError(TrainerError):
    """An FSDP option this implementation does not support, or one that contradicts another."""


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class FullyShardedDataParallelPlugin:
    """FSDP settings, with accelerate's names (``Accelerator(fsdp_plugin=...)``; the Trainer builds one from
    ``TrainingArguments(fsdp=..., fsdp_config=...)``).

    ``reshard_after_forward``: True frees each unit's gathered weights after its forward (``FULL_SHARD``), False
    keeps them until backward (``SHARD_GRAD_OP``); the strategy names are accepted too, as is the older
    ``sharding_strategy``. ``auto_wrap_policy``: ``transformer_based_wrap`` shards every module whose class is
    named in ``transformer_cls_names_to_wrap`` (default: the model's ``_no_split_modules``, else the blocks of its
    layer list) as its own unit; ``size_based_wrap`` every module with at least ``min_num_params`` parameters of
    its own subtree; ``no_wrap`` the whole model as one unit. ``cpu_offload`` keeps the shards in CPU memory
    between uses (CUDA only). Only ``fsdp_version=2`` and ``FULL_STATE_DICT`` checkpoints are implemented.
    """

    fsdp_version: int = 2
    reshard_after_forward: bool | str | None = None
    sharding_strategy: str | None = None
    auto_wrap_policy: str = "transformer_based_wrap"
    transformer_cls_names_to_wrap: list[str] | str | None = None
    min_num_params: int = 0
    cpu_offload: bool = False
    state_dict_type: str = "FULL_STATE_DICT"
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if int(self.fsdp_version) != 2:
            raise FSDPError(f"fsdp_version={self.fsdp_version}: only FSDP2 (torch.distributed.fsdp.fully_shard) is "
                            "implemented; FSDP1 is deprecated in torch and transformers. Use version 2")
        strategy = self.reshard_after_forward if self.reshard_after_forward is not None else self.sharding_strategy
        if isinstance(strategy, str) and strategy.lower() in (*SHARDING, *FSDP1_ONLY):
            if strategy.lower() in FSDP1_ONLY:
                raise FSDPError(f"sharding strategy {strategy!r} exists only in FSDP1; FSDP2 offers full_shard "
                                "and shard_grad_op (use plain DDP, fsdp='', for no sharding)")
            strategy = SHARDING[strategy.lower()]
        self.reshard_after_forward = True if strategy is None else _flag(strategy)
        self.auto_wrap_policy = self.auto_wrap_policy.lower()
        if self.auto_wrap_policy not in WRAP_POLICIES:
            raise FSDPError(f"auto_wrap_policy={self.auto_wrap_policy!r}: choose one of {', '.join(WRAP_POLICIES)}")
        if isinstance(self.transformer_cls_names_to_wrap, str):
            self.transformer_cls_names_to_wrap = [n.strip() for n in self.transformer_cls_names_to_wrap.split(",")]
        if self.auto_wrap_policy == "size_based_wrap" and self.min_num_params <= 0:
            raise FSDPError("auto_wrap_policy='size_based_wrap' needs min_num_params > 0")
        if self.state_dict_type.upper() != "FULL_STATE_DICT":
            raise FSDPError(f"state_dict_type={self.state_dict_type!r}: only FULL_STATE_DICT checkpoints are "
                            "implemented (they load with from_pretrained and into any number of processes)")
        if _flag(self.activation_checkpointing):
            raise FSDPError("FSDP activation_checkpointing is not implemented; turn it off")
        self.cpu_offload = _flag(self.cpu_offload)

    @classmethod
    def from_training_args(cls, fsdp: Any, fsdp_config: Mapping[str, Any] | None) -> FullyShardedDataParallelPlugin:
        """The plugin for ``TrainingArguments.fsdp`` (normalised options) and ``fsdp_config`` (the reference's
        keys, ``fsdp_`` prefixes already stripped)."""
        config = dict(fsdp_config or {})
        options = list(fsdp) if isinstance(fsdp, (list, tuple)) else []
        kwargs: dict[str, Any] = {"fsdp_version": int(config.get("version", 2))}
        for option in options:
            if option in SHARDING or option in FSDP1_ONLY:
                kwargs["reshard_after_forward"] = option
            elif option == "offload":
                kwargs["cpu_offload"] = True
        if "reshard_after_forward" in config:
            kwargs["reshard_after_forward"] = config["reshard_after_forward"]
        if _flag(config.get("cpu_offload", False)) or _flag(config.get("offload_params", False)):
            kwargs["cpu_offload"] = True
        min_params = int(config.get("min_num_params", 0))
        layers = config.get("transformer_layer_cls_to_wrap")
        if min_params > 0 and layers:
            raise FSDPError("fsdp_config: min_num_params and transformer_layer_cls_to_wrap are mutually exclusive")
        kwargs["auto_wrap_policy"] = str(config.get("auto_wrap_policy",
                                                    "size_based_wrap" if min_params > 0 else "transformer_based_wrap"))
        kwargs.update(min_num_params=min_params, transformer_cls_names_to_wrap=layers,
                      state_dict_type=str(config.get("state_dict_type", "FULL_STATE_DICT")),
                      activation_checkpointing=config.get("activation_checkpointing", False))
        return cls(**kwargs)

    @classmethod
    def from_env(cls) -> FullyShardedDataParallelPlugin | None:
        """accelerate's environment switch: ``ACCELERATE_USE_FSDP=true`` (and ``FSDP_*`` settings)."""
        if not _flag(os.environ.get("ACCELERATE_USE_FSDP", "false")):
            return None
        env: dict[str, Any] = {field: os.environ[name] for name, field in _ENV.items() if name in os.environ}
        for field in ("fsdp_version", "min_num_params"):
            if field in env:
                env[field] = int(env[field])
        return cls(**env)


def normalize_fsdp_arguments(fsdp: Any, fsdp_config: Any) -> tuple[list[str], dict[str, Any]]:
    """``TrainingArguments.fsdp`` as a list of options and ``fsdp_config`` as a dict (a path is read as JSON;
    ``fsdp_``-prefixed keys are renamed), validated; ``([], {})`` when FSDP is off."""
    if fsdp is None or fsdp is False or fsdp == "":
        options: list[str] = []
    elif fsdp is True:
        options = ["full_shard"]
    elif isinstance(fsdp, str):
        options = fsdp.split()
    else:
        options = [str(getattr(o, "value", o)) for o in fsdp]
    options = [o.lower() for o in options]
    known = (*SHARDING, *FSDP1_ONLY, "offload", "auto_wrap")
    unknown = [o for o in options if o not in known]
    if unknown:
        raise FSDPError(f"fsdp={fsdp!r}: unknown option(s) {unknown}; choose from {', '.join(known)}")
    if len({o for o in options if o in SHARDING or o in FSDP1_ONLY}) > 1:
        raise FSDPError(f"fsdp={fsdp!r}: choose one sharding strategy")
    if options and not any(o in SHARDING or o in FSDP1_ONLY for o in options):
        options.insert(0, "full_shard")  # "auto_wrap" or "offload" alone: the default strategy
    if isinstance(fsdp_config, (str, os.PathLike)):
        fsdp_config = json.loads(Path(fsdp_config).read_text(encoding="utf-8"))
    config = {(k[5:] if k.startswith("fsdp_") else k): v for k, v in (fsdp_config or {}).items()}
    bad = [k for k in config if k not in CONFIG_KEYS]
    if bad:
        raise FSDPError(f"fsdp_config: unknown key(s) {bad}; known: {', '.join(CONFIG_KEYS)}")
    if options:
        FullyShardedDataParallelPlugin.from_training_args(options, config)  # validate now, not at train()
    return options, config


# ---- sharding ------------------------------------------------------------------------------------------------------
def is_fsdp_model(model: nn.Module) -> bool:
    if not torch.distributed.is_available():  # builds without distributed support have no FSDP either
        return False
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def original_class(model: nn.Module) -> type[nn.Module]:
    """The model's own class: FSDP2 swaps in a subclass named ``FSDP<Name>``."""
    from torch.distributed.fsdp import FSDPModule

    return next(c for c in type(model).__mro__ if issubclass(c, nn.Module) and not issubclass(c, FSDPModule))


def _layer_class_names(model: nn.Module, plugin: FullyShardedDataParallelPlugin) -> set[str]:
    names = plugin.transformer_cls_names_to_wrap or getattr(model, "_no_split_modules", None)
    if names:
        present = {type(m).__name__ for m in model.modules()}
        missing = sorted(set(names) - present)
        if missing:
            raise FSDPError(f"transformer_layer_cls_to_wrap names {missing}, which {type(model).__name__} does "
                            f"not contain")
        return set(names)
    # the repeated blocks: the class of the modules in the largest list of same-class modules
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)
             and len({type(x) for x in m}) == 1]
    return {type(max(lists, key=len)[0]).__name__} if lists else set()


def _units(model: nn.Module, plugin: FullyShardedDataParallelPlugin) -> list[nn.Module]:
    """The sub-modules sharded as their own units (innermost first), the root excluded."""
    if plugin.auto_wrap_policy == "no_wrap":
        return []
    if plugin.auto_wrap_policy == "transformer_based_wrap":
        names = _layer_class_names(model, plugin)
        return [m for m in model.modules() if m is not model and type(m).__name__ in names]
    units: list[nn.Module] = []
    taken: set[int] = set()
    for module in reversed(list(model.modules())):  # children before parents
        if module is model or isinstance(module, (nn.ModuleList, nn.ModuleDict)):  # containers have no forward
            continue
        own = sum(p.numel() for p in module.parameters() if id(p) not in taken)
        if own >= plugin.min_num_params:
            units.append(module)
            taken.update(id(p) for p in module.parameters())
    return units


def shard_model(model: nn.Module, plugin: FullyShardedDataParallelPlugin, device: torch.device,
                optimizers: Iterable[torch.optim.Optimizer] = ()) -> nn.Module:
    """Apply ``fully_shard`` to each unit and to the root, in place, on a 1-D mesh of all processes; returns the
    model. ``optimizers`` built over the unsharded parameters are pointed at the sharded ones (they must not have
    taken a step yet)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

    if is_fsdp_model(model):
        return model
    if hasattr(model, "peft_config"):
        raise FSDPError("FSDP with PEFT adapters is not implemented; train the adapter with DDP (fsdp='')")
    if plugin.cpu_offload and device.type != "cuda":
        raise FSDPError("FSDP cpu_offload moves GPU shards to CPU memory; this run is already on the CPU")
    optimizers = list(optimizers)
    for optimizer in optimizers:
        if optimizer.state:
            raise FSDPError("an optimizer that has already stepped cannot be moved onto FSDP-sharded parameters; "
                            "build it before training, or let the Trainer create it")
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    offload = CPUOffloadPolicy() if plugin.cpu_offload else OffloadPolicy()
    units = _units(model, plugin)
    for unit in units:
        fully_shard(unit, mesh=mesh, reshard_after_forward=bool(plugin.reshard_after_forward), offload_policy=offload)
    fully_shard(model, mesh=mesh, reshard_after_forward=bool(plugin.reshard_after_forward), offload_policy=offload)
    logger.info("FSDP: %s sharded over %d processes in %d units (+ root)", type(model).__name__,
                torch.distributed.get_world_size(), len(units))
    sharded = dict(model.named_parameters(remove_duplicate=False))
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["params"] = [sharded[names[id(p)]] if id(p) in names else p for p in group["params"]]
    return model


# ---- full state dicts ----------------------------------------------------------------------------------------------
def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole (unsharded) state dict on CPU, on the main process (``{}`` elsewhere). Every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state: dict[str, Any] = get_model_state_dict(model, options=_options(cpu_offload=True))
    return state


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's whole state keyed by parameter name, on the main process. Every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_full_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a whole state dict (every process passes the same one) into this process's shards."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, dict(state), options=_options())  # torch replaces the dict's values: pass a copy


def load_full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an optimizer state saved by :func:`full_optimizer_state` (or a plain ``optimizer.state_dict()`` of the
    same parameter groups, e.g. from a DDP run) into this process's shards."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    # torch replaces the dict's values (deep copy), and wants parameter names as keys
    set_optimizer_state_dict(model, optimizer, optimizer_state_by_name(model, optimizer, state), options=_options())


def _index_names(model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> dict[int, str]:
    """Position in a plain optimizer state dict -> parameter name, pairing its groups with ``optimizer``'s."""
    names = {id(p): name for name, p in model.named_parameters()}
    if len(saved["param_groups"]) != len(optimizer.param_groups):
        raise FSDPError(f"the saved optimizer state has {len(saved['param_groups'])} parameter groups and this "
                        f"optimizer {len(optimizer.param_groups)}")
    return {index: names[id(param)] for group, live in zip(saved["param_groups"], optimizer.param_groups, strict=True)
            for index, param in zip(group["params"], live["params"], strict=True)}


def optimizer_state_by_name(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``state`` keyed by parameter name (the FSDP checkpoint format)."""
    import copy

    state = copy.deepcopy(state)
    if all(isinstance(key, str) for key in state["state"]) and all(
            isinstance(p, str) for group in state["param_groups"] for p in group["params"]):
        return state
    to_name = _index_names(model, optimizer, state)
    return {"state": {to_name[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [to_name[i] for i in g["params"]]} for g in state["param_groups"]]}


def optimizer_state_by_index(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` in ``optimizer.state_dict()``'s format (positions as keys): an FSDP checkpoint's optimizer state
    for an unsharded resume."""
    if not any(isinstance(p, str) for group in state["param_groups"] for p in group["params"]):
        return state
    names = {id(p): name for name, p in model.named_parameters()}
    position = {names[id(p)]: i for i, p in enumerate(p for group in optimizer.param_groups for p in group["params"])}
    return {"state": {position[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [position[n] for n in g["params"]]} for g in state["param_groups"]]}


def save_full_model(model: nn.Module, state: dict[str, torch.Tensor], folder: str | os.PathLike[str]) -> None:
    """Write a gathered ``state`` as ``save_pretrained`` would for the unsharded model (a plain state dict file
    for other modules). Call on the main process only."""
    from embrace.training.checkpointing import PLAIN_WEIGHTS_NAME, save_model_weights

    if not hasattr(model, "save_pretrained") or not hasattr(model, "config"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        torch.save(state, Path(folder) / PLAIN_WEIGHTS_NAME)
        return
    with torch.device("meta"):  # a twin of the model's own class (not FSDP's subclass) holding the full tensors
        twin = original_class(model)(model.config)
    twin.load_state_dict(state, assign=True)
    save_model_weights(twin, folder)


def read_full_model_state(model: nn.Module, folder: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The full state dict (module names) of weights saved by :func:`save_full_model` in ``folder``."""
    from embrace.training.checkpointing import PLAIN_WEIGHTS_NAME

    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        raise FSDPError("PEFT adapter checkpoints cannot be loaded into an FSDP-sharded model")
    if (folder / PLAIN_WEIGHTS_NAME).exists() or not hasattr(original_class(model), "from_pretrained"):
        return dict(torch.load(folder / PLAIN_WEIGHTS_NAME, map_location="cpu", weights_only=True))
    dtype = next(model.parameters()).dtype
    plain = original_class(model).from_pretrained(folder, dtype=dtype)  # type: ignore[attr-defined]
    return plain.state_dict()

