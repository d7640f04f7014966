"""`import embrace.data` loads pyarrow but neither torch nor pandas (nor the reference `datasets`).

(Converting Python lists with ``pa.array`` makes pyarrow itself import pandas when it is installed, so pandas is
only checked right after the import; torch and the reference libraries must stay out even after map/filter.)
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_embrace_data_is_light() -> None:
    code = ("import embrace, embrace.data as d, sys, json\n"
            "assert 'pandas' not in sys.modules and 'torch' not in sys.modules\n"
            "ds = d.Dataset.from_dict({'a': [1, 2]}).map(lambda e: {'b': e['a']}).filter(lambda e: e['a'] > 1)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'datasets', 'transformers', 'huggingface_hub'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_top_level_names_resolve() -> None:
    import embrace

    for name in ["Dataset", "DatasetDict", "IterableDataset", "load_dataset", "load_from_disk", "concatenate_datasets",
                 "interleave_datasets", "Features", "Value", "ClassLabel", "Sequence"]:
        assert getattr(embrace, name) is getattr(__import__("embrace.data", fromlist=[name]), name)
