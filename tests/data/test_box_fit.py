"""fec-data fit-boxes: a dataset's box convention, fitted with a detector run inside its boxes (fake and real MTCNN)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import fec_row
from PIL import Image

from fec.data.box_fit import CONVENTION_FILE, fit_dataset_boxes, training_convention
from fec.data.face_store import OutsideDataRoot
from fec.detect import DetectedFace
from fec.detect.convention import BoxConvention, read_box_convention, write_box_convention
from fec.errors import DataError

# The "dataset" draws its box 1.4 x 1.2 times the bright square a fake detector finds, centred 10% higher.
DATASET_WAY = BoxConvention(offset_x=0.0, offset_y=-0.1, scale_x=1.4, scale_y=1.2)


class BrightSquareDetector:
    """Finds the one bright square of a picture: its bounds are the box, eyes at a third of its height."""

    name = "bright"

    def detect(self, picture: Image.Image) -> list[DetectedFace]:
        rows, cols = np.nonzero(np.asarray(picture.convert("L")) > 128)
        if not len(rows):
            return []
        x1, y1, x2, y2 = float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)
        eye_y, width = y1 + (y2 - y1) / 3, x2 - x1
        landmarks = ((x1 + width / 3, eye_y), (x1 + 2 * width / 3, eye_y), ((x1 + x2) / 2, (y1 + y2) / 2),
                     (x1 + width / 3, y2 - 5), (x1 + 2 * width / 3, y2 - 5))
        return [DetectedFace((x1, y1, x2, y2), landmarks, 0.99)]


def square_dataset(folder: Path, count: int = 30, remote: int = 0) -> Path:
    """`count` pictures of one bright square each, and a CSV whose boxes are drawn DATASET_WAY around them."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    faces = []
    for index in range(count):
        picture = np.zeros((200, 240, 3), np.uint8)
        x, y, side = int(rng.integers(40, 130)), int(rng.integers(50, 100)), int(rng.integers(40, 60))
        picture[y:y + side, x:x + side] = 220
        Image.fromarray(picture).save(folder / "images" / f"{index}.png")
        x1, y1, x2, y2 = DATASET_WAY.pixel_box((x, y, x + side, y + side))
        faces.append((f"images/{index}.png", f"{x1 / 240:.6f},{x2 / 240:.6f},{y1 / 200:.6f},{y2 / 200:.6f}"))
    faces += [(f"https://example.com/{index}.jpg", "0.1,0.9,0.1,0.9") for index in range(remote)]
    rows = [",".join(f'"{url}",{box}' for url, box in group) + ',"ONE_CLASS_TRIPLET","1",1' for group in zip(*[iter(faces)] * 3)]
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    return folder / "train.csv"


def test_fit_recovers_the_datasets_way_of_drawing_boxes(tmp_path):
    csv_path = square_dataset(tmp_path / "data", count=30, remote=3)
    fit = fit_dataset_boxes(csv_path, BrightSquareDetector(), faces=100)
    assert (fit.sampled, fit.found, fit.no_picture) == (33, 30, 3)
    convention = fit.convention
    assert (convention.offset_x, convention.offset_y) == pytest.approx((0.0, -0.1), abs=0.02)
    assert (convention.scale_x, convention.scale_y) == pytest.approx((1.4, 1.2), abs=0.03)
    assert convention.detector == "bright" and convention.faces == 30


def test_a_sample_is_drawn_reproducibly(tmp_path):
    csv_path = square_dataset(tmp_path / "data", count=30)
    first = fit_dataset_boxes(csv_path, BrightSquareDetector(), faces=24, seed=3)
    again = fit_dataset_boxes(csv_path, BrightSquareDetector(), faces=24, seed=3)
    assert first == again and first.sampled == 24


def test_remote_pictures_count_only_when_kept(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(fec_row(urls=("https://a.example/1.jpg", "https://a.example/2.jpg", "https://a.example/3.jpg")) + "\n")
    with pytest.raises(DataError, match=r"none of the 3 sampled faces has its picture here .*fec-data download --keep-raw"):
        fit_dataset_boxes(csv_path, BrightSquareDetector())


def test_remote_pictures_kept_by_download_are_read_from_the_store(tmp_path):
    from fec.data.download.raw_pictures import raw_path

    csv_path = square_dataset(tmp_path / "data", count=24)
    lines = csv_path.read_text().splitlines()
    for index in range(24):  # as fec-data download --keep-raw leaves them: named by URL hash under STORE/raw
        url = f"https://pictures.example/{index}.png"
        target = raw_path(tmp_path / "store", url, "PNG")
        target.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "images" / f"{index}.png").rename(target)
        lines = [line.replace(f'"images/{index}.png"', f'"{url}"') for line in lines]
    csv_path.write_text("\n".join(lines) + "\n")
    fit = fit_dataset_boxes(csv_path, BrightSquareDetector(), store=tmp_path / "store")
    assert (fit.sampled, fit.found, fit.no_picture) == (24, 24, 0)
    assert fit.convention.scale_x == pytest.approx(1.4, abs=0.03)


def test_too_few_faces_found_names_the_csv(tmp_path):
    csv_path = square_dataset(tmp_path / "data", count=12)
    with pytest.raises(DataError, match=f"^{csv_path}: only 12 faces were found inside their boxes"):
        fit_dataset_boxes(csv_path, BrightSquareDetector())


def test_pictures_outside_the_data_folder_are_refused(tmp_path):
    Image.new("RGB", (50, 50)).save(tmp_path / "elsewhere.png")
    (tmp_path / "data").mkdir()
    csv_path = tmp_path / "data" / "train.csv"
    csv_path.write_text(fec_row(urls=("../elsewhere.png",) * 3) + "\n")
    with pytest.raises(OutsideDataRoot, match=rf"^{csv_path}: image path '../elsewhere.png' is outside the data folder"):
        fit_dataset_boxes(csv_path, BrightSquareDetector())


def test_a_malformed_url_names_the_csv(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(fec_row(urls=("http://[::1/x.jpg",) * 3) + "\n")
    with pytest.raises(DataError) as caught:
        fit_dataset_boxes(csv_path, BrightSquareDetector())
    assert str(caught.value) == (f"{csv_path}: image URL 'http://[::1/x.jpg' is malformed (Invalid IPv6 URL); "
                                 "fix or remove this CSV row")


def test_training_records_the_file_beside_its_csv_or_the_one_named(tmp_path):
    csv_path = tmp_path / "train.csv"
    assert training_convention("auto", csv_path) is None
    write_box_convention(tmp_path / CONVENTION_FILE, DATASET_WAY)
    assert training_convention("auto", csv_path) == DATASET_WAY
    assert training_convention("none", csv_path) is None
    assert training_convention(str(tmp_path / CONVENTION_FILE), tmp_path / "other" / "train.csv") == DATASET_WAY
    with pytest.raises(DataError, match=r"^box_convention: .*missing.json: no box convention file"):
        training_convention(str(tmp_path / "missing.json"), csv_path)


def test_a_trained_checkpoint_carries_the_convention_into_its_exports(tiny_synth, tmp_path):
    from helpers import tiny_overrides

    from fec.export.source import checkpoint_provenance
    from fec.models.checkpoint import read_checkpoint
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    convention_file = tmp_path / "convention.json"
    write_box_convention(convention_file, DATASET_WAY)
    config = load_config(None, tiny_overrides(tiny_synth, max_steps=1, val_fraction=0.0, box_convention=str(convention_file)))
    Trainer(config, tmp_path / "run", quiet=True).fit()
    payload = read_checkpoint(tmp_path / "run" / "last.pt")
    assert BoxConvention.recorded(payload, "ckpt") == DATASET_WAY
    assert checkpoint_provenance(tmp_path / "run" / "last.pt", payload)["box_convention"] == DATASET_WAY.to_dict()


def run_data(*args: str):
    from fec.cli import data as data_cli

    return CliRunner().invoke(data_cli.main, list(args), catch_exceptions=False)


def test_cli_fits_the_embedded_default_with_real_mtcnn(mtcnn, tmp_path):
    from fec.data.synth import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "synth", triplets=150, seed=1, image_size=96)
    result = run_data("fit-boxes", str(tmp_path / "synth"), "--faces", "60")
    assert result.exit_code == 0, result.stderr
    written = json.loads((tmp_path / "synth" / CONVENTION_FILE).read_text())
    convention = read_box_convention(tmp_path / "synth" / CONVENTION_FILE)
    # MTCNN's box of a synthetic face is narrower than the tile the dataset boxes, and sits a little lower
    assert 1.3 <= convention.scale_x <= 1.7 and 1.05 <= convention.scale_y <= 1.3, convention
    assert -0.12 <= convention.offset_y <= -0.02 and abs(convention.offset_x) <= 0.05, convention
    assert written["fit"]["sampled"] == 60 and written["fit"]["found"] >= 36 and convention.faces == written["fit"]["found"]
    assert f"wrote {tmp_path / 'synth' / CONVENTION_FILE}" in result.stdout


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "train.csv").write_text(fec_row(urls=("https://a.example/1.jpg",) * 3) + "\n")
    result = run_data("fit-boxes", str(tmp_path), "--detector", "haar")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "unknown face detector" in result.stderr
    missing = run_data("fit-boxes", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "nowhere" in missing.stderr
