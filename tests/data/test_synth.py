"""The synthetic FEC-format dataset: files, counts, boxes, determinism, rater agreement, splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fec.data.fec_csv import read_triplets
from fec.data.synth import SynthSummary, write_synthetic_dataset
from fec.data.synth.expressions import GENERATOR_VERSION, SUB_EXPRESSIONS
from fec.data.triplets import TripletType
from fec.errors import DataError
from fec.preprocessing import crop_box, open_image

TRIPLETS = 300
SEED = 3
IMAGE_SIZE = 96
TEST_FRACTION = 0.25


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, write_synthetic_dataset(out, TRIPLETS, seed=SEED, image_size=IMAGE_SIZE, test_fraction=TEST_FRACTION)


@pytest.fixture(scope="module")
def parsed(dataset):
    out, _ = dataset
    return {split: read_triplets(out / f"{split}.csv", skip_bad_rows=True) for split in ("train", "test")}


def test_files_exist_and_parse_without_bad_rows(dataset, parsed):
    out, summary = dataset
    assert (out / "train.csv").is_file() and (out / "test.csv").is_file() and (out / "synth.json").is_file()
    assert all(not f.bad_rows for f in parsed.values())
    assert all(f.format == "fec" for f in parsed.values())
    assert len(parsed["test"].triplets) == round(TRIPLETS * TEST_FRACTION) == 75
    assert len(parsed["train"].triplets) == TRIPLETS - 75
    assert summary.triplets == {"train": 225, "test": 75}


def test_synth_json_holds_summary_and_parameters(dataset):
    out, summary = dataset
    payload = json.loads((out / "synth.json").read_text())
    assert payload["summary"] == summary.to_dict()
    assert payload["parameters"]["seed"] == SEED
    assert payload["parameters"]["triplets"] == TRIPLETS
    assert payload["parameters"]["image_size"] == IMAGE_SIZE
    assert payload["parameters"]["generator_version"] == GENERATOR_VERSION == 2
    assert np.array(payload["parameters"]["sub_expressions"]).shape == (7, 3, 6)


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_three_faces_of_three_sub_expressions_have_a_clear_odd_one():
    for category, sub_expressions in enumerate(SUB_EXPRESSIONS):
        distances = np.sort(pairwise_distances(sub_expressions)[np.triu_indices(3, 1)])
        assert distances[0] >= 0.25, category
        assert distances[1] - distances[0] >= 0.25, (category, distances)


def test_every_sub_expression_is_nearest_to_its_own_category():
    points = SUB_EXPRESSIONS.reshape(-1, SUB_EXPRESSIONS.shape[-1])
    categories = np.repeat(np.arange(len(SUB_EXPRESSIONS)), SUB_EXPRESSIONS.shape[1])
    distances = pairwise_distances(points)
    np.fill_diagonal(distances, np.inf)
    for i, row in enumerate(distances):
        own = row[categories == categories[i]].min()
        other = row[categories != categories[i]].min()
        assert own < other, (categories[i], i % 3, own, other)


def test_all_three_types_are_balanced(dataset, parsed):
    _, summary = dataset
    for split, file in parsed.items():
        count = len(file.triplets)
        for kind in TripletType:
            n = sum(t.type is kind for t in file.triplets)
            assert abs(n - count / 3) <= 1, (split, kind, n)
            assert summary.types[split][kind.value] == n


def test_six_distinct_digit_raters_per_triplet(parsed):
    for triplet in parsed["train"].triplets:
        ids = [rater for rater, _ in triplet.annotations]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert all(rater.isdigit() for rater in ids)
        assert all(label in (1, 2, 3) for _, label in triplet.annotations)


def test_boxes_are_normalised_and_crop_to_a_face(dataset, parsed):
    out, _ = dataset
    faces = {face for t in parsed["test"].triplets for face in t.faces}
    for face in faces:
        box = face.box
        assert box.problem() is None
        assert 0 <= box.left < box.right <= 1 and 0 <= box.top < box.bottom <= 1
        assert box.right - box.left < 0.8 and box.bottom - box.top < 0.8  # the picture is larger than the face
    for face in sorted(faces, key=lambda f: f.url)[:12]:
        crop = crop_box(open_image(out / face.url), face.box)
        width, height = crop.size
        assert abs(width - height) <= 1
        assert 0.85 * IMAGE_SIZE <= width <= 1.15 * IMAGE_SIZE


def test_pictures_are_reused_and_all_exist(dataset, parsed):
    out, summary = dataset
    urls = {split: {face.url for t in f.triplets for face in t.faces} for split, f in parsed.items()}
    assert summary.pictures == len(urls["train"]) + len(urls["test"])
    assert len(urls["train"]) < 0.75 * len(parsed["train"].triplets)  # faces are shared between triplets
    for url in urls["train"] | urls["test"]:
        assert not Path(url).is_absolute() and url.startswith("images/")
        assert (out / url).is_file()


def test_train_and_test_pictures_are_disjoint(parsed):
    train = {face.url for t in parsed["train"].triplets for face in t.faces}
    test = {face.url for t in parsed["test"].triplets for face in t.faces}
    assert train and test and not train & test


def test_agreement_varies_and_oracle_is_high(dataset, parsed):
    _, summary = dataset
    agreements = [t.agreement for f in parsed.values() for t in f.triplets]
    assert len(set(agreements)) >= 2
    assert min(agreements) < 1.0
    assert summary.mean_agreement == pytest.approx(sum(agreements) / len(agreements), abs=1e-4)
    assert sum(summary.agreement_histogram.values()) == TRIPLETS
    assert summary.oracle_accuracy >= 0.9
    assert set(summary.oracle_accuracy_by_type) == {k.value for k in TripletType}
    assert all(accuracy >= 0.85 for accuracy in summary.oracle_accuracy_by_type.values())


def test_same_seed_gives_identical_bytes(dataset, tmp_path):
    out, summary = dataset
    again = write_synthetic_dataset(tmp_path, TRIPLETS, seed=SEED, image_size=IMAGE_SIZE, test_fraction=TEST_FRACTION)
    assert again == summary
    for name in ("train.csv", "test.csv", "synth.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    pictures = sorted((out / "images").glob("*.png"))[::25]
    assert len(pictures) >= 4
    for picture in pictures:
        assert (tmp_path / "images" / picture.name).read_bytes() == picture.read_bytes()


def test_different_seed_gives_a_different_dataset(tmp_path):
    first = write_synthetic_dataset(tmp_path / "a", 30, seed=1, image_size=32)
    second = write_synthetic_dataset(tmp_path / "b", 30, seed=2, image_size=32)
    assert first.triplets == second.triplets == {"train": 24, "test": 6}
    assert (tmp_path / "a" / "train.csv").read_bytes() != (tmp_path / "b" / "train.csv").read_bytes()


def test_no_temporary_files_are_left(dataset):
    out, _ = dataset
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"triplets": 9}, r"a whole number of triplets in \[10, 1000000\], got 9$"),
        ({"triplets": 99999999999999}, r"a whole number of triplets in \[10, 1000000\], got 99999999999999$"),
        ({"triplets": 12.5}, "whole number"),
        ({"image_size": 31}, r"pixels in \[32, 1024\], got 31"),
        ({"image_size": 100_000}, r"pixels in \[32, 1024\], got 100000"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"test_fraction": 0.0}, "between 0 and 1"),
        ({"test_fraction": 1.0}, "between 0 and 1"),
        ({"test_fraction": -0.2}, "between 0 and 1"),
    ],
)
def test_bad_arguments_raise_data_error(tmp_path, kwargs, message):
    arguments = {"triplets": 20, **kwargs}
    with pytest.raises(DataError, match=message):
        write_synthetic_dataset(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_smallest_dataset_keeps_both_splits(tmp_path):
    summary = write_synthetic_dataset(tmp_path, 10, test_fraction=0.99, image_size=32)
    assert summary.triplets == {"train": 1, "test": 9}
    assert not read_triplets(tmp_path / "train.csv").bad_rows


def test_face_store_crops_every_face_from_the_csv_folder(dataset, parsed, tmp_path):
    from fec.data.face_store import FaceStore

    out, _ = dataset
    resolved = FaceStore(tmp_path / "faces", face_size=112).resolve_triplets(parsed["test"].triplets, out)
    assert resolved.dropped_count == 0
    assert len(resolved.triplets) == len(parsed["test"].triplets)
    assert open_image(resolved.face_paths[0][0]).size == (112, 112)
