"""Column types of a dataset: ``Value``, ``ClassLabel``, ``List``/``Sequence``, ``Array2D`` and nested dicts.

A ``Features`` maps column names to feature types and converts both ways to a pyarrow schema. The JSON form
(``to_dict``/``from_dict``) is the one the reference ``datasets`` writes into ``dataset_info.json`` and into the
``huggingface`` key of Arrow schema metadata, so files travel between the two libraries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import pyarrow as pa

from embrace.data.errors import SchemaError

_ALIASES = {"float": "float32", "double": "float64", "halffloat": "float16", "utf8": "string", "large_utf8": "large_string"}


def _dtype_to_arrow(dtype: str) -> pa.DataType:
    try:
        return pa.type_for_alias(_ALIASES.get(dtype, dtype))
    except ValueError as exc:
        raise SchemaError(f"Unknown Value dtype {dtype!r}; use e.g. 'int64', 'float32', 'string', 'bool'.") from exc


def _arrow_to_dtype(pa_type: pa.DataType) -> str:
    name = str(pa_type)
    return _ALIASES.get(name, name)


@dataclass
class Value:
    """A scalar column: ``dtype`` is an Arrow type name such as ``"int64"``, ``"float32"``, ``"string"``."""

    dtype: str
    id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dtype = _ALIASES.get(self.dtype, self.dtype)
        self.pa_type = _dtype_to_arrow(self.dtype)

    def __call__(self) -> pa.DataType:
        return self.pa_type

    def encode_example(self, value: Any) -> Any:
        return value


@dataclass
class ClassLabel:
    """Integer class labels with names. Stored as int64; ``str2int``/``int2str`` convert; -1 means "no label"."""

    num_classes: int | None = None
    names: list[str] | None = None
    names_file: str | None = field(default=None, repr=False)
    id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.names_file is not None:
            with open(self.names_file, encoding="utf-8") as handle:
                self.names = [line.strip() for line in handle if line.strip()]
        if self.names is None:
            if self.num_classes is None:
                raise SchemaError("ClassLabel needs names=[...] or num_classes=N.")
            self.names = [str(i) for i in range(self.num_classes)]
        else:
            self.names = [str(name) for name in self.names]
            if self.num_classes is not None and self.num_classes != len(self.names):
                raise SchemaError(f"ClassLabel num_classes={self.num_classes} but {len(self.names)} names given.")
            self.num_classes = len(self.names)
        self._str2int = {name: i for i, name in enumerate(self.names)}
        self.dtype = "int64"
        self.pa_type = pa.int64()

    def __call__(self) -> pa.DataType:
        return self.pa_type

    def str2int(self, values: Any) -> Any:
        """Label name(s) -> id(s); a list in gives a list out. Unknown names raise a ``ValueError``."""
        if isinstance(values, str):
            return self._one_str2int(values)
        return [self._one_str2int(v) for v in values]

    def _one_str2int(self, value: str) -> int:
        found = self._str2int.get(value, self._str2int.get(value.strip()))
        if found is not None:
            return found
        if value.strip().lstrip("-").isdigit():  # "3" for a ClassLabel without names
            return self._check_int(int(value))
        raise ValueError(f"Invalid string class label {value!r}; known labels: {self.names}")

    def int2str(self, values: Any) -> Any:
        """Label id(s) -> name(s)."""
        if isinstance(values, int) or hasattr(values, "__index__") and not isinstance(values, (list, tuple)):
            return self.names[self._check_int(int(values))]  # type: ignore[index]
        return [self.names[self._check_int(int(v))] for v in values]  # type: ignore[index]

    def _check_int(self, value: int) -> int:
        if not -1 <= value < (self.num_classes or 0):
            raise ValueError(f"Invalid class label {value}: must be in [0, {self.num_classes}) or -1 for unlabeled.")
        return value

    def encode_example(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return self._one_str2int(value)
        return self._check_int(int(value))


@dataclass
class List:
    """A list column of ``feature`` items; ``length`` > 0 stores a fixed-size list."""

    feature: Any
    length: int = -1
    id: str | None = field(default=None, repr=False)

    def __call__(self) -> pa.DataType:
        inner = feature_to_arrow(self.feature)
        return pa.list_(inner, self.length) if self.length >= 0 else pa.list_(inner)

    def __repr__(self) -> str:
        return f"List({self.feature!r}" + (f", length={self.length})" if self.length != -1 else ")")


@dataclass
class LargeList:
    """A list column with 64-bit offsets (for lists whose total length exceeds 2**31)."""

    feature: Any
    id: str | None = field(default=None, repr=False)

    def __call__(self) -> pa.DataType:
        return pa.large_list(feature_to_arrow(self.feature))


def Sequence(feature: Any = None, length: int = -1, id: str | None = None) -> Any:
    """Like the reference: a ``List`` of ``feature``, except a dict feature becomes a dict of lists."""
    if isinstance(feature, dict):
        return {key: List(value, length=length) for key, value in feature.items()}
    return List(feature, length=length, id=id)


@dataclass
class Array2D:
    """A fixed-rank 2-D array per row, ``shape=(rows, cols)`` (rows may be None for variable length).

    Stored as a list of fixed-size lists; numpy/torch formatting gives arrays of shape ``(n, rows, cols)``.
    """

    shape: tuple[int | None, int]
    dtype: str
    id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.shape = tuple(self.shape)  # type: ignore[assignment]
        if len(self.shape) != 2:
            raise SchemaError(f"Array2D needs a 2-item shape, got {self.shape}")

    def encode_example(self, value: Any) -> list[list[Any]]:
        """A 2-D array-like -> nested lists, checking it has ``shape``."""
        rows = value.tolist() if hasattr(value, "tolist") else [list(r) for r in value]
        expected_rows, cols = self.shape
        if (expected_rows is not None and len(rows) != expected_rows) or any(len(r) != cols for r in rows):
            got = (len(rows), len(rows[0]) if rows else 0)
            raise ValueError(f"Array2D expects shape {self.shape}, got an array of shape {got}")
        return rows

    def __call__(self) -> pa.DataType:
        rows, cols = self.shape
        inner = pa.list_(_dtype_to_arrow(self.dtype), cols)
        return pa.list_(inner, rows) if rows is not None else pa.list_(inner)


FeatureType = Union[Value, ClassLabel, List, LargeList, Array2D, dict, list]  # noqa: UP007 - runtime alias
_REGISTRY: dict[str, type] = {"Value": Value, "ClassLabel": ClassLabel, "List": List, "LargeList": LargeList,
                              "Array2D": Array2D}


def feature_to_arrow(feature: Any) -> pa.DataType:
    """The Arrow type of one feature (dicts become structs, ``[f]`` a list of ``f``)."""
    if isinstance(feature, dict):
        return pa.struct({key: feature_to_arrow(sub) for key, sub in feature.items()})
    if isinstance(feature, (list, tuple)):
        return pa.list_(feature_to_arrow(feature[0]))
    return feature()


def arrow_to_feature(pa_type: pa.DataType) -> Any:
    """Inverse of :func:`feature_to_arrow` (ClassLabel and Array2D come back from schema metadata instead)."""
    if pa.types.is_struct(pa_type):
        return {pa_type.field(i).name: arrow_to_feature(pa_type.field(i).type) for i in range(pa_type.num_fields)}
    if pa.types.is_fixed_size_list(pa_type):
        return List(arrow_to_feature(pa_type.value_type), length=pa_type.list_size)
    if pa.types.is_list(pa_type):
        return List(arrow_to_feature(pa_type.value_type))
    if pa.types.is_large_list(pa_type):
        return LargeList(arrow_to_feature(pa_type.value_type))
    if pa.types.is_dictionary(pa_type):
        return arrow_to_feature(pa_type.value_type)
    return Value(_arrow_to_dtype(pa_type))


def feature_to_dict(feature: Any) -> Any:
    if isinstance(feature, dict):
        return {key: feature_to_dict(sub) for key, sub in feature.items()}
    if isinstance(feature, (list, tuple)):
        return [feature_to_dict(feature[0])]
    if isinstance(feature, Value):
        return {"dtype": feature.dtype, "_type": "Value"}
    if isinstance(feature, ClassLabel):
        return {"names": list(feature.names or []), "_type": "ClassLabel"}
    if isinstance(feature, List):
        out = {"feature": feature_to_dict(feature.feature), "_type": "List"}
        if feature.length != -1:
            out["length"] = feature.length
        return out
    if isinstance(feature, LargeList):
        return {"feature": feature_to_dict(feature.feature), "_type": "LargeList"}
    if isinstance(feature, Array2D):
        return {"shape": list(feature.shape), "dtype": feature.dtype, "_type": "Array2D"}
    raise SchemaError(f"Not a feature type: {feature!r}")


def feature_from_dict(obj: Any) -> Any:
    if isinstance(obj, list):
        return [feature_from_dict(obj[0])]
    if not isinstance(obj, dict):
        raise SchemaError(f"Cannot read a feature from {obj!r}")
    kind = obj.get("_type")
    if kind is None:
        return {key: feature_from_dict(sub) for key, sub in obj.items()}
    if kind == "Sequence":  # datasets < 4 files
        return Sequence(feature_from_dict(obj["feature"]), length=obj.get("length", -1))
    if kind in ("List", "LargeList"):
        inner = feature_from_dict(obj["feature"])
        return List(inner, length=obj.get("length", -1)) if kind == "List" else LargeList(inner)
    if kind == "ClassLabel":
        return ClassLabel(names=obj["names"])
    if kind == "Value":
        return Value(obj["dtype"])
    if kind == "Array2D":
        return Array2D(shape=tuple(obj["shape"]), dtype=obj["dtype"])
    raise SchemaError(f"Unsupported feature type {kind!r} in dataset metadata (supported: {sorted(_REGISTRY)}).")


def _needs_encoding(feature: Any) -> bool:
    if isinstance(feature, (ClassLabel, Array2D)):
        return True
    if isinstance(feature, dict):
        return any(_needs_encoding(sub) for sub in feature.values())
    if isinstance(feature, (List, LargeList)):
        return _needs_encoding(feature.feature)
    if isinstance(feature, (list, tuple)):
        return _needs_encoding(feature[0])
    return False


def encode_value(feature: Any, value: Any) -> Any:
    """Python value -> Arrow-storable value (ClassLabel names become ids, nested structures recurse)."""
    if value is None:
        return None
    if isinstance(feature, ClassLabel):
        return feature.encode_example(value)
    if isinstance(feature, Array2D):
        return feature.encode_example(value)
    if isinstance(feature, dict):
        return {key: encode_value(sub, value.get(key)) for key, sub in feature.items()}
    if isinstance(feature, (List, LargeList)):
        inner = feature.feature
        if isinstance(inner, dict) and isinstance(value, dict):  # dict of lists given for a list of dicts
            keys = list(inner)
            value = [dict(zip(keys, items)) for items in zip(*(value[k] for k in keys))]
        return [encode_value(inner, item) for item in value]
    if isinstance(feature, (list, tuple)):
        return [encode_value(feature[0], item) for item in value]
    return value


class Features(dict):
    """Ordered mapping column name -> feature type, convertible to and from a pyarrow schema."""

    @property
    def arrow_schema(self) -> pa.Schema:
        fields = [pa.field(name, feature_to_arrow(feature)) for name, feature in self.items()]
        meta = {"huggingface": json.dumps({"info": {"features": self.to_dict()}})}
        return pa.schema(fields, metadata=meta)

    @property
    def type(self) -> pa.StructType:
        return pa.struct({name: feature_to_arrow(feature) for name, feature in self.items()})

    @classmethod
    def from_arrow_schema(cls, schema: pa.Schema) -> Features:
        """Features from a schema: exact ones from the ``huggingface`` metadata when present, else inferred."""
        stored: dict[str, Any] = {}
        metadata = schema.metadata or {}
        if b"huggingface" in metadata:
            try:
                info = json.loads(metadata[b"huggingface"].decode("utf-8"))
                stored = dict(Features.from_dict(info.get("info", {}).get("features") or {}))
            except (ValueError, SchemaError):
                stored = {}
        out = cls()
        for fld in schema:
            known = stored.get(fld.name)
            out[fld.name] = known if known is not None and _compatible(known, fld.type) else arrow_to_feature(fld.type)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Features:
        return cls({name: feature_from_dict(sub) for name, sub in obj.items()})

    def to_dict(self) -> dict[str, Any]:
        return {name: feature_to_dict(feature) for name, feature in self.items()}

    def copy(self) -> Features:
        return Features.from_dict(self.to_dict())

    def encode_example(self, example: Mapping[str, Any]) -> dict[str, Any]:
        return {name: encode_value(self[name], example.get(name)) for name in self}

    def encode_batch(self, batch: Mapping[str, Iterable[Any]], row_offset: int = 0) -> dict[str, Any]:
        """Encode columns for storage; a value that does not fit raises ``SchemaError`` naming its row."""
        out: dict[str, Any] = {}
        for name, values in batch.items():
            feature = self.get(name)
            if feature is None or not _needs_encoding(feature):
                out[name] = values
                continue
            encoded = []
            for i, value in enumerate(values):
                try:
                    encoded.append(encode_value(feature, value))
                except (ValueError, TypeError, KeyError) as exc:
                    raise SchemaError(f"Column {name!r}, row {row_offset + i}: {exc}") from exc
            out[name] = encoded
        return out

    def flatten(self) -> Features:
        """Nested dict columns become ``parent.child`` columns."""
        out = Features()
        for name, feature in self.items():
            if isinstance(feature, dict):
                for sub_name, sub in Features(feature).flatten().items():
                    out[f"{name}.{sub_name}"] = sub
            else:
                out[name] = feature
        return out


def _compatible(feature: Any, pa_type: pa.DataType) -> bool:
    try:
        return bool(feature_to_arrow(feature) == pa_type)
    except (SchemaError, TypeError, ValueError, pa.ArrowException):
        return False
