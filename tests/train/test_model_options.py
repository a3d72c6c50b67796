"""Model options in the training config: `head` reaches the model, and is left out when unset."""

from __future__ import annotations

import pytest
from helpers import tiny_overrides

from fec.errors import ModelError
from fec.models.fecnet import EmbeddingHead, GridEmbeddingHead
from fec.train.config import load_config
from fec.train.trainer import Trainer


@pytest.mark.parametrize(("head", "head_class"), [("", EmbeddingHead), ("grid", GridEmbeddingHead)])
def test_head_reaches_the_model_and_its_checkpoint_config(tiny_synth, tmp_path, head, head_class):
    trainer = Trainer(load_config(None, tiny_overrides(tiny_synth, head=head)), tmp_path / "run", quiet=True)
    assert isinstance(trainer.model.head, head_class)
    assert trainer._checkpoint_payload()["model"].get("head") == (head or None)


def test_a_model_without_the_option_says_so(tiny_synth, tmp_path):
    config = load_config(None, tiny_overrides(tiny_synth, model="compact_cnn", head="grid"))
    with pytest.raises(ModelError, match=r"^model 'compact_cnn': bad option \(.*unexpected keyword argument 'head'\)"):
        Trainer(config, tmp_path / "run", quiet=True)
