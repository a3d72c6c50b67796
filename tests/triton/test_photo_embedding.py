"""fec-embed --detect with a checkpoint here: every face of every real photo, its records, no-face photos, search."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from triton_helpers import TRAINED_CONVENTION

from fec.detect import iou


def run_embed(*args: str):
    from fec.cli import embed as embed_cli

    return CliRunner().invoke(embed_cli.main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def local_faces(sample_photos, checkpoint, tmp_path_factory):
    """fec-embed --detect --checkpoint over the sample photos: the run, its JSONL records and its .npz arrays."""
    folder, _ = sample_photos
    out = tmp_path_factory.mktemp("local-faces")
    jsonl = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder), "--out", str(out / "faces.jsonl"),
                      "--similar", str(folder / "astronaut.jpg"), "--top", "3", "--sheet", str(out / "sheet.png"))
    npz = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder), "--out", str(out / "faces.npz"), "-q")
    assert jsonl.exit_code == 0 and npz.exit_code == 0, jsonl.output + npz.output
    lines = [json.loads(line) for line in (out / "faces.jsonl").read_text().splitlines()]
    return jsonl, lines, dict(np.load(out / "faces.npz")), out


def test_every_face_of_every_photo_is_a_record_where_the_face_is(local_faces, sample_photos):
    _, lines, _, _ = local_faces
    _, known = sample_photos
    faces = [line for line in lines if line["face"] is not None]
    found = {name: [line for line in faces if line["photo"].endswith(name)] for name in known}
    assert {name: len(records) for name, records in found.items()} == {name: len(boxes) for name, boxes in known.items()}
    for name, boxes in known.items():
        assert [record["face"] for record in found[name]] == list(range(len(boxes)))
        assert [record["score"] for record in found[name]] == sorted((r["score"] for r in found[name]), reverse=True)
        assert all(max(iou(record["box"], box) for record in found[name]) >= 0.5 for box in boxes), name
    assert set(faces[0]) == {"photo", "face", "box", "landmarks", "score", "embedding"}
    assert list(faces[0]["landmarks"]) == ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
    assert np.allclose([np.linalg.norm(record["embedding"]) for record in faces], 1.0, atol=1e-4)


def test_a_photo_without_a_face_is_listed_in_the_output_and_on_stderr(local_faces, sample_photos):
    run, lines, arrays, _ = local_faces
    folder, _ = sample_photos
    assert [line for line in lines if line["face"] is None] == [{"photo": str(folder / "coffee.jpg"), "face": None}]
    assert list(arrays["no_face"]) == [str(folder / "coffee.jpg")]
    assert f"warning: no face found in 1 of 4 photos: {folder / 'coffee.jpg'}" in run.stderr.splitlines()
    assert "found 6 faces in 3 of 4 photos" in run.stdout


def test_npz_holds_the_same_records_as_jsonl(local_faces):
    _, lines, arrays, _ = local_faces
    faces = [line for line in lines if line["face"] is not None]
    assert arrays["boxes"].shape == (6, 4) and arrays["scores"].shape == (6,) and arrays["landmarks"].shape == (6, 5, 2)
    assert arrays["embeddings"].shape == (6, 16) and arrays["embeddings"].dtype == np.float32
    assert list(arrays["photo"]) == [line["photo"] for line in faces]
    assert list(arrays["face"]) == [line["face"] for line in faces]
    assert np.allclose(arrays["embeddings"], [line["embedding"] for line in faces], atol=1e-6)
    assert np.allclose(arrays["boxes"], [line["box"] for line in faces], atol=0.06)


def test_similar_searches_faces_from_the_query_photos_best_face(local_faces):
    run, _, _, out = local_faces
    listing = run.stdout.splitlines()
    start = listing.index(next(line for line in listing if line.startswith("closest expressions to astronaut.jpg face 0")))
    neighbours = listing[start + 1:start + 4]
    assert len(neighbours) == 3 and all(" face " in line for line in neighbours)
    assert not any(line.endswith("astronaut.jpg face 0") for line in neighbours)  # the query face itself is left out
    from PIL import Image

    with Image.open(out / "sheet.png") as sheet:
        assert sheet.size == (4 * 160, 190)  # the query and its 3 neighbours, one captioned row


def test_a_query_photo_outside_the_inputs_is_not_among_the_records(sample_photos, checkpoint, tmp_path):
    folder, _ = sample_photos
    result = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder / "lfw_four.png"), "--similar",
                       str(folder / "grace_hopper.jpg"), "--sheet", str(tmp_path / "s.png"), "--out", str(tmp_path / "f.jsonl"))
    assert result.exit_code == 0, result.output
    photos = {json.loads(line)["photo"] for line in (tmp_path / "f.jsonl").read_text().splitlines()}
    assert photos == {str(folder / "lfw_four.png")}
    assert result.stdout.count("lfw_four.png face") == 4


@pytest.mark.parametrize("query", [False, True])
def test_no_face_in_any_photo_is_one_line_and_exit_2(sample_photos, checkpoint, tmp_path, query):
    folder, _ = sample_photos
    extra = ["--similar", str(folder / "coffee.jpg")] if query else []
    result = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder / "coffee.jpg"), *extra,
                       "--out", str(tmp_path / "f.jsonl"))
    assert result.exit_code == 2
    expected = ("error: " + f"{folder / 'coffee.jpg'}: no face found in the query photo" if query
                else "error: no face found in any of the 1 photos")
    assert result.stderr.splitlines()[-1] == expected
    assert not (tmp_path / "f.jsonl").exists()


def test_detect_output_must_be_jsonl_or_npz(sample_photos, checkpoint, tmp_path):
    folder, _ = sample_photos
    result = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder), "--out", str(tmp_path / "f.npy"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'f.npy'}: with --detect, --out must end in .jsonl or .npz"


def test_an_unreadable_photo_is_one_line(sample_photos, checkpoint, tmp_path):
    (tmp_path / "notes.jpg").write_bytes(b"not a photo")
    result = run_embed("--checkpoint", str(checkpoint), "--detect", str(tmp_path / "notes.jpg"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: 1 pictures failed")
    assert "not a readable image" in result.stderr


def test_detected_faces_are_cropped_the_way_training_boxed_them(sample_photos, checkpoint):
    from dataclasses import replace

    from fec.detect import align_face
    from fec.embedding.photos import LocalPhotoEmbedder
    from fec.preprocessing import decode_image, resize_uint8
    from fec.triton.photos import photo_faces

    folder, _ = sample_photos
    embedder = LocalPhotoEmbedder(checkpoint)
    settings = embedder.settings
    assert settings.convention == TRAINED_CONVENTION and "boxes as trained: mtcnn box moved by" in embedder.describe()
    payload = (folder / "astronaut.jpg").read_bytes()
    photo = photo_faces(payload, embedder.detector, settings)
    picture = decode_image(payload)  # 512 px: within the working size, so found and cropped on the whole picture
    trained_box = TRAINED_CONVENTION.face_box(photo.faces[0].box, picture.size)
    assert np.array_equal(photo.batch[0], resize_uint8(align_face(picture, photo.faces[0], settings.margin, box=trained_box),
                                                       settings.prep.input_size))
    as_detected = photo_faces(payload, embedder.detector, replace(settings, convention=None)).batch
    assert np.abs(photo.batch[0].astype(int) - as_detected[0]).mean() > 10  # a wider, higher crop: other pixels


def test_box_convention_option_overrides_the_checkpoints(sample_photos, checkpoint, tmp_path):
    from fec.detect.convention import BoxConvention, write_box_convention

    folder, _ = sample_photos
    other = BoxConvention(0.0, 0.0, 1.2, 1.2, faces=30)
    write_box_convention(tmp_path / "other.json", other)
    runs = {setting: run_embed("--checkpoint", str(checkpoint), "--detect", str(folder / "astronaut.jpg"), "--out",
                               str(tmp_path / f"{index}.npz"), *(("--box-convention", setting) if setting else ()))
            for index, setting in enumerate((None, "none", str(tmp_path / "other.json")))}
    assert all(run.exit_code == 0 for run in runs.values()), [run.output for run in runs.values()]
    assert "boxes as trained: mtcnn box moved by (-0.009, -0.066)" in runs[None].stdout
    assert "detected boxes as they are" in runs["none"].stdout
    assert "scaled by (1.200, 1.200), fitted on 30 faces" in runs[str(tmp_path / "other.json")].stdout
    vectors = [np.load(tmp_path / f"{index}.npz")["embeddings"][0] for index in range(3)]
    assert float(vectors[0] @ vectors[1]) < 0.9999 and float(vectors[0] @ vectors[2]) < 0.9999  # other crops


def test_box_convention_errors_are_one_line(sample_photos, checkpoint, tmp_path):
    folder, _ = sample_photos
    missing = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder), "--box-convention", str(tmp_path / "x.json"))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'x.json'}: no box convention file (write one with fec-data fit-boxes)"
    served = run_embed("--url", "http://127.0.0.1:9", "--detect", str(folder), "--box-convention", "none")
    assert served.exit_code == 2 and "--box-convention applies to --checkpoint" in served.stderr
    from dataclasses import replace

    from fec.detect.convention import write_box_convention

    write_box_convention(tmp_path / "haar.json", replace(TRAINED_CONVENTION, detector="haar"))
    foreign = run_embed("--checkpoint", str(checkpoint), "--detect", str(folder), "--box-convention",
                        str(tmp_path / "haar.json"))
    assert foreign.exit_code == 2
    assert foreign.stderr.strip() == (f"error: {tmp_path / 'haar.json'}: the box convention was fitted on haar boxes, but "
                                      "faces here are found by mtcnn, which draws its boxes elsewhere; fit one with "
                                      "fec-data fit-boxes --detector mtcnn, or give --box-convention none")
