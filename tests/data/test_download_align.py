"""`fec-data download --align mtcnn` on real faces: lfw faces pasted into larger pictures, served over HTTP
on 127.0.0.1 (test_download's server), with FEC-style boxes. The stored crops are
levelled face crops of the box (the detector finds the face in them, eyes level)."""

from __future__ import annotations

import io

import pytest
from helpers import lfw_face, photo
from PIL import Image
from test_download import ONE, FaultServer, ok, options, triplet, write_csv

from fec.data import download as dl
from fec.data.face_store import FaceStore
from fec.data.triplets import FaceBox, FaceRef
from fec.detect import eye_angle, iou
from fec.preprocessing import crop_box

FACE_SIZE, MARGIN = 96, 0.1
# (lfw face index, degrees turned counter-clockwise, x, y, side) on a 320x280 no-face picture
PASTED = [(1, 0, 40, 60, 120), (22, 15, 150, 90, 128), (57, -12, 100, 30, 116)]


@pytest.fixture
def served(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    server = FaultServer().start()
    yield server
    server.stop()


def picture_with_face(index: int, degrees: float, x: int, y: int, side: int) -> tuple[bytes, FaceBox]:
    """A JPEG of chelsea (a cat, no human face) with lfw face `index` turned `degrees` pasted at (x, y), and the
    FEC box of the pasted face."""
    picture = photo("chelsea").resize((320, 280), Image.BICUBIC)
    picture.paste(lfw_face(index, side).rotate(degrees, resample=Image.BICUBIC), (x, y))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue(), FaceBox(x / 320, (x + side) / 320, y / 280, (y + side) / 280)


def test_download_with_mtcnn_stores_levelled_face_crops(mtcnn, served, tmp_path):
    faces, plain = [], []
    for number, (index, degrees, x, y, side) in enumerate(PASTED):
        body, box = picture_with_face(index, degrees, x, y, side)
        faces.append(FaceRef(served.route(f"/face/{number}.jpg", ok(body)), box))
        plain.append(box_crop(body, box))
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *faces)])
    store = tmp_path / "store"
    dl.download([csv_path], options(store, align="mtcnn", face_size=FACE_SIZE, margin=MARGIN, timeout=5))

    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    assert sorted(record.status for record in records.values()) == ["ok"] * 3
    assert sum(record.unaligned for record in records.values()) == 0
    inner = FACE_SIZE * MARGIN / (1 + 2 * MARGIN)  # where the box itself lies inside a crop grown by MARGIN
    for face, (_, degrees, *_), plain_crop in zip(faces, PASTED, plain):
        stored = Image.open(FaceStore(store, FACE_SIZE, MARGIN).path(face)).convert("RGB")
        assert stored.size == (FACE_SIZE, FACE_SIZE)
        (found,) = mtcnn.detect(stored)  # a face crop: the face fills the box, as in the plain crop
        assert iou(found.box, (inner, inner, FACE_SIZE - inner, FACE_SIZE - inner)) >= 0.5
        assert abs(eye_angle(found)) < 5, (degrees, eye_angle(found))
        (before,) = mtcnn.detect(plain_crop)
        assert abs(eye_angle(before) + degrees) < 6  # the plain crop was turned as pasted


def box_crop(body: bytes, box: FaceBox) -> Image.Image:
    """The training crop of `box` (no alignment), at the store's size."""
    return crop_box(Image.open(io.BytesIO(body)).convert("RGB"), box, MARGIN).resize((FACE_SIZE, FACE_SIZE), Image.BICUBIC)



def test_download_with_mtcnn_writes_the_box_convention_of_the_faces_it_aligned(mtcnn, tmp_path):
    from fec.detect.convention import CONVENTION_FILE, read_box_convention

    (tmp_path / "data").mkdir()
    faces = []
    for number in range(24):  # local pictures: the download reads them as it would fetched ones
        side = 100 + 4 * (number % 6)
        body, box = picture_with_face(number * 4, 0, 30 + 7 * number, 20 + 5 * (number % 7), side)
        (tmp_path / "data" / f"{number}.jpg").write_bytes(body)
        faces.append(FaceRef(f"{number}.jpg", box))
    csv_path = write_csv(tmp_path / "data" / "train.csv", [triplet(ONE, *faces[i:i + 3]) for i in range(0, 24, 3)])
    store = tmp_path / "store"
    report = dl.download([csv_path], options(store, align="mtcnn", face_size=FACE_SIZE, timeout=5))

    assert report.box_convention == store / CONVENTION_FILE
    convention = read_box_convention(store / CONVENTION_FILE)
    # the pasted lfw tile runs from above the brows to below the chin: wider and taller than MTCNN's box
    assert convention.faces >= 20 and 1.1 <= convention.scale_x <= 1.6 and 0.9 <= convention.scale_y <= 1.4, convention
    assert f"wrote {store / CONVENTION_FILE}: the box convention of the aligned faces" in dl.format_report(report)


def test_too_few_aligned_faces_write_no_convention(tmp_path):
    from types import SimpleNamespace

    from fec.data.download.run import write_convention
    from fec.detect.convention import CONVENTION_FILE, MIN_FIT_FACES

    class Aligned:
        detector = SimpleNamespace(name="mtcnn")
        pairs = [((10.0, 10.0, 50.0, 60.0), (0.0, 0.0, 60.0, 70.0))] * (MIN_FIT_FACES - 1)

    assert write_convention(Aligned(), tmp_path) is None and write_convention(None, tmp_path) is None
    assert not (tmp_path / CONVENTION_FILE).exists()
    Aligned.pairs = Aligned.pairs * 2
    assert write_convention(Aligned(), tmp_path) == tmp_path / CONVENTION_FILE
