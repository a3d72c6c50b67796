"""What one photo may cost: it is decoded and searched at a working size (a huge JPEG costs what its working size
costs), its faces come back in its own pixels, at most max_faces are embedded (the rest are counted), and a photo
over its time budget fails alone with its reason."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace

import pytest
from PIL import Image

from fec.detect import iou
from fec.triton.photos import CROP_SIDE, DETECTION_SIDE, photo_faces
from fec.triton.serving import Deadline, RequestTimeout
from tests.helpers import load_benchmark_script, photo

sample = load_benchmark_script("sample_photos")


def jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


PEAK_PROBE = """
import resource, sys
from fec.preprocessing import decode_scaled
payload = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sizes = [decode_scaled(payload, "big.jpg", side).picture.size for side in (int(sys.argv[2]), int(sys.argv[3]))]
print(sizes, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_72_megapixel_jpeg_decodes_at_its_working_size_in_bounded_memory(tmp_path):
    """Whole, 9000 x 8000 RGB is 216 MB; at the working sizes (a JPEG scaled while it decodes) it is a few MB."""
    path = tmp_path / "big.jpg"
    Image.new("RGB", (9000, 8000), (120, 130, 140)).save(path, "JPEG", quality=30)
    probe = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(path), str(DETECTION_SIDE), str(CROP_SIDE)],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    sizes, peak_mb = probe.stdout.split("] ")
    assert sizes + "]" == f"[({DETECTION_SIDE}, 1138), ({CROP_SIDE}, 1820)]"
    assert int(peak_mb) < 60, f"decoding raised the peak memory by {peak_mb} MB"


def test_faces_of_a_large_photo_come_back_in_its_own_pixels(mtcnn, checkpoint):
    from fec.embedding.photos import LocalPhotoEmbedder

    settings = LocalPhotoEmbedder(checkpoint).settings
    astronaut = photo("astronaut")
    small = photo_faces(jpeg(astronaut), mtcnn, settings)
    large = photo_faces(jpeg(astronaut.resize((2560, 2560), Image.BICUBIC)), mtcnn, settings)  # found at 1280 px
    assert len(small.faces) == len(large.faces) == 1 and large.left_out == 0
    assert iou(large.faces[0].box, tuple(value * 5 for value in small.faces[0].box)) > 0.9
    assert large.batch.shape == small.batch.shape


def test_a_crowd_photo_embeds_its_best_faces_up_to_the_cap_and_counts_the_rest(mtcnn, checkpoint):
    from fec.embedding.photos import LocalPhotoEmbedder

    settings = replace(LocalPhotoEmbedder(checkpoint).settings, max_faces=5)
    crowd, boxes = sample.crowd_photo(4, 3)
    found = photo_faces(jpeg(crowd), mtcnn, settings)
    assert (len(found.faces), len(found.batch), found.left_out) == (5, 5, 7)
    scores = [face.score for face in found.faces]
    assert scores == sorted(scores, reverse=True)
    assert all(max(iou(face.box, box) for box in boxes) > 0.2 for face in found.faces)


def test_a_photo_over_its_time_budget_fails_alone_with_its_reason(mtcnn, checkpoint):
    from fec.embedding.photos import LocalPhotoEmbedder

    settings = LocalPhotoEmbedder(checkpoint).settings
    with pytest.raises(RequestTimeout, match=r"^crowd\.jpg: over the server's 0 s budget for one request while "
                                             r"decoding; send a smaller photo or one with fewer faces$"):
        photo_faces(jpeg(sample.crowd_photo(2, 2)[0]), mtcnn, settings, name="crowd.jpg", deadline=Deadline(0.0))
    assert len(photo_faces(jpeg(photo("astronaut")), mtcnn, settings, deadline=Deadline(60.0)).faces) == 1
    Deadline(None).check("any", "any step")  # no budget: never times out


def test_fec_embed_says_which_photos_had_faces_left_out(mtcnn, checkpoint, tmp_path):
    from click.testing import CliRunner

    from fec.cli import embed as embed_cli

    sample.crowd_photo(4, 3)[0].save(tmp_path / "crowd.jpg", quality=90)
    result = CliRunner().invoke(embed_cli.main, ["--checkpoint", str(checkpoint), "--detect", str(tmp_path / "crowd.jpg"),
                                                 "--max-faces", "5", "--out", str(tmp_path / "faces.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path / 'crowd.jpg'}: 7 faces beyond the per-photo cap were left out (--max-faces)" in (
        result.stderr.splitlines())
    assert len((tmp_path / "faces.jsonl").read_text().splitlines()) == 5
