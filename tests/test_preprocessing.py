from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps, PngImagePlugin

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


def asymmetric_picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(3).integers(0, 256, (20, 40, 3), dtype=np.uint8))


@pytest.mark.parametrize("orientation", range(0, 10))
def test_decode_turns_exactly_as_exif_transpose_for_every_orientation(orientation):
    payload, exif = io.BytesIO(), Image.Exif()
    exif[0x0112] = orientation
    asymmetric_picture().save(payload, format="PNG", exif=exif)
    with Image.open(io.BytesIO(payload.getvalue())) as stored:
        expected = ImageOps.exif_transpose(stored).convert("RGB")
    assert np.array_equal(np.asarray(decode_image(payload.getvalue())), np.asarray(expected))
    assert (decode_image(payload.getvalue()).size == (20, 40)) == (orientation in range(5, 9))


def test_decode_reads_an_orientation_given_in_xmp_only():
    payload, info = io.BytesIO(), PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>')
    asymmetric_picture().save(payload, format="PNG", pnginfo=info)
    assert decode_image(payload.getvalue()).size == (20, 40)


def test_resize_uint8_returns_the_pictures_pixels_in_hwc_order():
    picture = asymmetric_picture()
    assert np.array_equal(resize_uint8(picture, 16), np.asarray(picture.resize((16, 16), Image.BILINEAR)))
    assert np.array_equal(resize_uint8(picture.resize((16, 16)), 16), np.asarray(picture.resize((16, 16))))


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


def encoded(picture: Image.Image, fmt: str = "PNG", **options) -> bytes:
    payload = io.BytesIO()
    picture.save(payload, format=fmt, **options)
    return payload.getvalue()


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped_white():
    """convert("RGB") clipped 16-bit levels at 255: a mid-grey picture came out white (mean 227 of 255 in the probe)."""
    levels = np.array([[0, 257, 32768, 65535]], np.uint16)
    decoded = np.asarray(decode_image(encoded(Image.fromarray(levels))))
    assert decoded.shape == (1, 4, 3) and decoded[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (decoded[..., 0] == decoded[..., 2]).all()
    marked = np.asarray(decode_image(encoded(Image.fromarray(levels), transparency=257)))
    assert marked[0, :, 0].tolist() == [0, 255, 128, 255]  # the grey level marked transparent shows the background


@pytest.mark.parametrize(("array", "kind"), [(np.full((4, 4), 70000, np.int32), "32-bit integer pixels (mode I)"),
                                             (np.full((4, 4), 0.5, np.float32), "floating-point pixels (mode F)")])
def test_pixels_without_a_fixed_range_are_refused(array, kind):
    with pytest.raises(DataError) as error:
        decode_image(encoded(Image.fromarray(array), "TIFF"), name="scan.tif")
    assert str(error.value) == f"scan.tif: {kind} have no fixed range; save the picture with 8 or 16 bits per channel"


def test_transparent_pixels_show_white_whatever_colour_they_hold():
    """Dropping the alpha channel showed the colour a transparent pixel happens to hold (here red)."""
    rgba = Image.fromarray(np.array([[[255, 0, 0, 0], [0, 0, 255, 255], [0, 0, 0, 128]]], np.uint8), "RGBA")
    assert np.asarray(decode_image(encoded(rgba))).tolist() == [[[255, 255, 255], [0, 0, 255], [127, 127, 127]]]
    grey_alpha = Image.merge("LA", (Image.new("L", (2, 1), 40), Image.fromarray(np.array([[0, 255]], np.uint8))))
    assert np.asarray(decode_image(encoded(grey_alpha))).tolist() == [[[255, 255, 255], [40, 40, 40]]]


def test_a_palette_picture_with_a_transparent_index_decodes_without_pillows_warning():
    import warnings

    palette = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 128, 0] + [0] * 762)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode_image(encoded(palette, transparency=0))
    assert np.asarray(decoded).tolist() == [[[255, 255, 255], [0, 128, 0]]]


def test_a_cmyk_jpeg_decodes_to_its_colours():
    cmyk = Image.new("RGB", (8, 8), (200, 100, 50)).convert("CMYK")
    decoded = np.asarray(decode_image(encoded(cmyk, "JPEG", quality=95))).reshape(-1, 3).mean(axis=0)
    assert np.abs(decoded - (200, 100, 50)).max() < 3


def test_a_damaged_exif_block_is_one_warning_in_our_words_and_the_picture_as_stored():
    """Pillow printed its own 'Corrupt EXIF data' warning naming a line of Pillow; orientation read from a damaged
    block cannot be trusted."""
    import struct
    import warnings

    from fec.errors import PictureWarning

    jpeg = encoded(Image.new("RGB", (40, 20), (90, 90, 90)), "JPEG")
    block = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01"  # five entries promised, two bytes given
    damaged = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block + jpeg[2:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = decode_image(damaged, name="odd.jpg")
    assert decoded.size == (40, 20)
    assert [(warning.category, str(warning.message)) for warning in caught] == [(PictureWarning, (
        "odd.jpg: damaged metadata (Corrupt EXIF data. Expecting to read 12 bytes but only got 2); the picture is "
        "used as stored, without EXIF orientation"))]
