"""Loading weights into a built model copies into its existing parameters, so an optimizer created before the
load keeps training the loaded values (models/modeling.py ``_assign``)."""

from __future__ import annotations

import torch
from tests.training._helpers import tiny_classifier

from embrace.models.bert import BertForSequenceClassification


def test_load_checkpoint_keeps_parameter_objects(tmp_path):
    source = tiny_classifier(seed=1)
    source.save_pretrained(tmp_path)
    model = tiny_classifier(seed=2)
    before = {name: id(p) for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    from embrace.models.loading import find_weight_files

    files = find_weight_files(lambda n: tmp_path / n if (tmp_path / n).exists() else None, str(tmp_path))
    model.load_checkpoint(files)
    assert {name: id(p) for name, p in model.named_parameters()} == before
    for (name, p), q in zip(model.named_parameters(), source.parameters(), strict=True):
        assert torch.equal(p, q), name
    # the optimizer built before loading updates the loaded weights
    model(input_ids=torch.tensor([[2, 7, 9]]), labels=torch.tensor([1])).loss.backward()
    optimizer.step()
    assert not torch.equal(model.classifier.weight, source.classifier.weight)


def test_from_pretrained_still_builds_from_meta(tmp_path):
    tiny_classifier(seed=1).save_pretrained(tmp_path)
    model = BertForSequenceClassification.from_pretrained(tmp_path)
    assert all(not p.is_meta for p in model.parameters())
