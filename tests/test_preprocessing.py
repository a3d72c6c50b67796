from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fec.data.triplets import FaceBox
from fec.errors import ArtifactError, DataError
from fec.preprocessing import (
    Preprocessing,
    crop_box,
    decode_image,
    normalize_tensor,
    normalize_uint8,
    preprocess_images,
    resize_uint8,
)


def test_numpy_and_torch_normalisation_agree():
    prep = Preprocessing(8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    batch = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    by_numpy = normalize_uint8(batch, prep)
    by_torch = normalize_tensor(torch.from_numpy(batch).permute(0, 3, 1, 2), prep).numpy()
    np.testing.assert_allclose(by_numpy, by_torch, atol=1e-6)
    assert by_numpy[0, 1, 2, 3] == pytest.approx((batch[0, 2, 3, 1] / 255 - 0.4) / 0.25, abs=1e-6)


def test_crop_box_uses_normalised_columns_and_rows():
    image = Image.new("RGB", (200, 100))
    crop = crop_box(image, FaceBox(left=0.25, right=0.75, top=0.1, bottom=0.5))
    assert crop.size == (100, 40)
    grown = crop_box(image, FaceBox(0.25, 0.75, 0.1, 0.5), margin=0.1)
    assert grown.size == (120, 48)


def test_decode_applies_exif_orientation_and_rejects_garbage():
    wide = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = wide.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    payload = io.BytesIO()
    wide.save(payload, format="JPEG", exif=exif)
    assert decode_image(payload.getvalue()).size == (20, 40)
    with pytest.raises(DataError, match="upload.jpg: not a readable image"):
        decode_image(b"<html>", name="upload.jpg")


def test_preprocess_images_resizes_to_the_model_input():
    images = [Image.new("RGB", (30, 50), (128, 128, 128)), Image.new("RGB", (64, 64))]
    batch = preprocess_images(images, Preprocessing(16))
    assert batch.shape == (2, 3, 16, 16) and batch.dtype == np.float32
    assert resize_uint8(images[0], 16).shape == (16, 16, 3)


@pytest.mark.parametrize("width, height", [(30000, 30000), (9000, 9000)])
def test_pictures_over_the_pixel_cap_are_refused_before_decoding(tmp_path, width, height):
    """30000^2 is over PIL's own bomb limit, 9000^2 only over ours (80 Mpx): the same one line for both."""
    from fec.preprocessing import MAX_IMAGE_PIXELS, open_image
    from tests.helpers import png_header

    assert 9000 * 9000 > MAX_IMAGE_PIXELS == 80_000_000
    with pytest.raises(DataError, match=r"^picture 3: .*over the 80 megapixel limit for one picture; scale it down"):
        decode_image(png_header(width, height), "picture 3")
    (tmp_path / "bomb.png").write_bytes(png_header(width, height))
    with pytest.raises(DataError, match=r"bomb\.png: .*over the 80 megapixel limit"):
        open_image(tmp_path / "bomb.png")


def test_undecodable_bytes_name_the_picture_not_a_python_object():
    with pytest.raises(DataError) as error:
        decode_image(b"<html>not an image</html>", "image 0")
    assert str(error.value) == "image 0: not a readable image (cannot identify image file)"


@pytest.mark.parametrize(("payload", "message"), [
    (None, "preprocessing entry is incomplete (needs input_size, mean and std)"),
    ({"input_size": 64, "mean": [0.5] * 3}, "preprocessing entry is incomplete (needs input_size, mean and std)"),
    ({"input_size": 64.0, "mean": [0.5] * 3, "std": [0.5] * 3},
     "preprocessing input_size 64.0 is not a whole number of pixels in [16, 4096]"),
    ({"input_size": 64, "mean": "0.5", "std": [0.5] * 3}, "preprocessing mean '0.5' is not three finite numbers"),
    ({"input_size": 64, "mean": [0.5] * 3, "std": [0.5, float("nan"), 0.5]},
     "preprocessing std [0.5, nan, 0.5] is not three finite numbers"),
    ({"input_size": 64, "mean": [0.5, True, 0.5], "std": [0.5] * 3},
     "preprocessing mean [0.5, True, 0.5] is not three finite numbers"),
    ({"input_size": 64, "mean": [0.5] * 3, "std": [0.5, 0, 0.5]}, "preprocessing std [0.5, 0.0, 0.5] must be positive"),
])
def test_a_recorded_preprocessing_is_checked_field_by_field_and_names_its_source(payload, message):
    with pytest.raises(ArtifactError) as raised:
        Preprocessing.from_dict(payload, "run/best.pt")
    assert str(raised.value) == f"run/best.pt: {message}"


def test_a_recorded_preprocessing_reads_back_what_was_written():
    prep = Preprocessing(96, (0.5, 0.25, 0), (0.2, 0.3, 0.4))
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    assert Preprocessing.from_dict({"input_size": 96, "mean": [0.5, 0.25, 0], "std": [0.2, 0.3, 0.4]}) == prep
