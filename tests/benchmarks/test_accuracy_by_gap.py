"""benchmarks/accuracy_by_gap.py: the deciding gap, the table, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fec.data.fec_csv import read_triplets
from fec.data.synth import EXPRESSIONS_FILE, read_expressions, write_synthetic_dataset
from fec.errors import DataError
from tests.helpers import load_benchmark_script

script = load_benchmark_script("accuracy_by_gap")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(out, 60, seed=5, image_size=32)
    return out


def test_deciding_gap_is_second_closest_minus_closest_pair():
    expressions = np.array([[[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]],  # pairs 1, 3, 2 apart
                            [[0.0, 0.0], [0.0, 4.0], [3.0, 0.0]]])  # pairs 4, 3, 5 apart
    assert script.deciding_gap(expressions) == pytest.approx([1.0, 1.0])
    assert script.noise_free_odd(expressions).tolist() == [2, 1]  # faces 3 and 2 are left out


def test_expressions_table_covers_every_picture(synth):
    expressions = read_expressions(synth / EXPRESSIONS_FILE)
    urls = {face.url for split in ("train", "test") for t in read_triplets(synth / f"{split}.csv").triplets
            for face in t.faces}
    assert set(expressions) == urls
    assert all(vector.shape == (6,) for vector in expressions.values())


def test_a_model_that_sees_the_true_expressions_scores_what_the_labels_allow(synth):
    test = read_triplets(synth / "test.csv").triplets
    rows = np.array([t.line for t in test])
    expressions = script.triplet_expressions(synth, rows)
    embeddings = {"a": expressions[:, 0], "b": expressions[:, 1], "c": expressions[:, 2],
                  "odd": np.array([t.odd for t in test]), "type": np.array([t.type.value for t in test]), "row": rows}
    table = script.gap_table(embeddings, expressions)
    assert sum(row["count"] for row in table) == len(test) == 12
    for row in table:
        assert row["accuracy"] == row["labels_true"]
        assert sum(row[kind]["count"] for kind in script.TYPES) == row["count"]
    assert "| deciding gap | triplets |" in script.markdown(table)


def test_missing_expressions_table_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"expressions.csv: not found; it is written by `fec-data synth`"):
        read_expressions(tmp_path / "expressions.csv")


def test_embeddings_of_another_dataset_fail_with_one_line(synth, tmp_path, capsys):
    bad = tmp_path / "emb.npz"
    np.savez(bad, a=np.zeros((1, 16)))
    assert script.main(["--data", str(synth), "--embeddings", str(bad)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {bad}: not an fec-eval --embeddings file") and "\n" not in error


def test_expressions_of_another_dataset_fail_with_one_line_naming_the_picture(synth, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "test.csv").write_bytes((synth / "test.csv").read_bytes())
    lines = (synth / EXPRESSIONS_FILE).read_text().splitlines()
    (other / EXPRESSIONS_FILE).write_text("\n".join(line for line in lines if "test_" not in line) + "\n")
    test = read_triplets(other / "test.csv").triplets
    embeddings = tmp_path / "emb.npz"
    np.savez(embeddings, a=np.zeros((len(test), 16)), b=np.zeros((len(test), 16)), c=np.zeros((len(test), 16)),
             odd=np.ones(len(test)), type=np.array([t.type.value for t in test]), row=np.array([t.line for t in test]))
    assert script.main(["--data", str(other), "--embeddings", str(embeddings)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {other / EXPRESSIONS_FILE}: no row for images/test_") and "\n" not in error
