from __future__ import annotations

from pathlib import Path

from PIL import Image

from fec.data.face_store import FaceStore
from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType

BOX = FaceBox(0.25, 0.75, 0.25, 0.75)


def picture(path: Path) -> Path:
    Image.new("RGB", (80, 80), (10, 200, 30)).save(path)
    return path


def triplet(*urls: str) -> Triplet:
    return Triplet(tuple(FaceRef(url, BOX) for url in urls), TripletType.ONE_CLASS, (("1", 1),), "t.csv", 1)


def test_keys_are_stable_and_depend_on_box_size_and_margin(tmp_path):
    face = FaceRef("http://example.invalid/a.jpg", BOX)
    store = FaceStore(tmp_path, face_size=64)
    assert store.key(face) == FaceStore(tmp_path / "other", face_size=64).key(face)
    assert store.key(face) != FaceStore(tmp_path, face_size=32).key(face)
    assert store.key(face) != FaceStore(tmp_path, face_size=64, margin=0.1).key(face)
    assert store.key(face) != store.key(FaceRef(face.url, FaceBox(0.2, 0.75, 0.25, 0.75)))


def test_local_relative_and_file_urls_are_cropped_once_into_the_store(tmp_path):
    picture(tmp_path / "a.png")
    absolute = picture(tmp_path / "b.png")
    store = FaceStore(tmp_path / "faces", face_size=32)
    resolved = store.resolve_triplets([triplet("a.png", f"file://{absolute}", "a.png")], tmp_path)
    assert len(resolved.triplets) == 1 and resolved.dropped_count == 0
    paths = resolved.face_paths[0]
    assert paths[0] == paths[2] and Image.open(paths[1]).size == (32, 32)
    assert sorted(p.suffix for p in (tmp_path / "faces").rglob("*") if p.is_file()) == [".jpg", ".jpg"]


def test_missing_and_remote_faces_drop_the_triplet_with_a_reason(tmp_path):
    picture(tmp_path / "a.png")
    store = FaceStore(tmp_path / "faces", face_size=32)
    resolved = store.resolve_triplets(
        [triplet("a.png", "a.png", "gone.png"), triplet("a.png", "https://example.invalid/x.jpg", "a.png"),
         triplet("a.png", "a.png", "a.png")],
        tmp_path,
    )
    assert len(resolved.triplets) == 1
    remote = "remote image not in the store (fetch it with `fec-data download`)"
    assert dict(resolved.dropped) == {"image file not found": 1, remote: 1}
    assert resolved.missing_examples[0].startswith("t.csv:1: image file not found")


def test_local_pictures_outside_the_data_folder_are_refused_naming_the_row(tmp_path):
    import pytest

    from fec.errors import DataError

    data = tmp_path / "data"
    data.mkdir()
    picture(data / "a.png")
    outside = picture(tmp_path / "secret.png")
    (data / "link.png").symlink_to(outside)
    store = FaceStore(data / "faces", face_size=32)
    for url in ("../secret.png", str(outside), f"file://{outside}", "link.png"):
        with pytest.raises(DataError, match=rf"^t\.csv:1: image path '{url}' is outside the data folder {data}"):
            store.resolve_triplets([triplet("a.png", "a.png", url)], data)
    assert len(list((data / "faces").rglob("*.jpg"))) == 1  # a.png's crop; nothing of the refused pictures
    allowed = store.resolve_triplets([triplet("a.png", "a.png", "../secret.png")], data, allow_outside=True)
    assert len(allowed.triplets) == 1 and len(list((data / "faces").rglob("*.jpg"))) == 2
    wider_root = store.resolve_triplets([triplet("a.png", "a.png", str(outside))], data, root=tmp_path)
    assert len(wider_root.triplets) == 1  # --data-root names a folder that holds them


def test_add_and_add_from_image_make_the_same_face(tmp_path):
    """One way to make a stored face: from a picture file (first use) or a decoded picture (download)."""
    import numpy as np
    import pytest

    from fec.errors import DataError
    from fec.preprocessing import open_image

    pixels = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    face = FaceRef("p.png", BOX)
    from_file = FaceStore(tmp_path / "a", face_size=32, margin=0.1).add(face, tmp_path / "p.png")
    from_image, aligned = FaceStore(tmp_path / "b", face_size=32, margin=0.1).add_from_image(face, open_image(tmp_path / "p.png"))
    assert from_file.read_bytes() == from_image.read_bytes() and not aligned
    assert from_image.relative_to(tmp_path / "b") == from_file.relative_to(tmp_path / "a")  # same key

    store = FaceStore(tmp_path / "c", face_size=32, margin=0.1)
    nothing_found, aligned = store.add_from_image(face, open_image(tmp_path / "p.png"), lambda picture, box, margin: None)
    assert nothing_found.read_bytes() == from_file.read_bytes() and not aligned  # the plain crop
    calls = []
    grey = Image.new("RGB", (10, 10), (128, 128, 128))
    levelled, aligned = store.add_from_image(face, open_image(tmp_path / "p.png"), lambda *args: calls.append(args[1:]) or grey)
    assert aligned and calls == [(BOX, 0.1)] and Image.open(levelled).size == (32, 32)
    assert abs(np.asarray(Image.open(levelled), dtype=float).mean() - 128) < 3

    empty = FaceRef("p.png", FaceBox(0.5, 0.501, 0.5, 0.501))
    with pytest.raises(DataError, match="empty after rounding"):
        store.add_from_image(empty, open_image(tmp_path / "p.png"))
    assert not store.path(empty).exists()


def finishes_within(seconds: float, work, *args, **kwargs):
    """Run `work` on a daemon thread; fail (instead of hanging the suite) when it blocks, as on a named pipe."""
    import threading

    outcome = {}

    def run():
        try:
            outcome["value"] = work(*args, **kwargs)
        except Exception as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def odd_paths(data: Path) -> dict[str, str]:
    """CSV image paths no picture can have, each with a pattern of the message naming why."""
    import os

    (data / "images").mkdir()
    os.mkfifo(data / "images" / "pipe.png")
    (data / "images" / "loop_a.png").symlink_to("loop_b.png")
    (data / "images" / "loop_b.png").symlink_to("loop_a.png")
    return {
        "images/te\0st.png": "contains a NUL byte",
        "images/" + "x" * 300 + ".png": r"cannot be read \(File name too long\)",
        "images/loop_a.png": r"cannot be (resolved \(Symlink loop|read \(Too many levels of symbolic links)",
        "images/pipe.png": r"is not a regular file \(only picture files are read\)",
        "images": r"is not a regular file \(only picture files are read\)",
    }


def test_odd_local_paths_are_one_line_errors_naming_the_row(tmp_path):
    import re

    import pytest

    from fec.data.face_store import UnusablePicturePath

    data = tmp_path / "data"
    data.mkdir()
    picture(data / "a.png")
    store = FaceStore(data / "faces", face_size=32)
    for url, why in odd_paths(data).items():
        for allow_outside in (False, True):
            with pytest.raises(UnusablePicturePath) as caught:
                finishes_within(10, store.resolve_triplets, [triplet("a.png", url, "a.png")], data,
                                allow_outside=allow_outside)
            message = str(caught.value)
            assert message.startswith(f"t.csv:1: image path {url!r} "), message
            assert re.search(why, message) and message.endswith("; fix or remove this CSV row") and "\n" not in message
    assert [p.name for p in (data / "faces").rglob("*.jpg")] == [store.path(FaceRef("a.png", BOX)).name]


def test_odd_local_paths_are_dropped_with_skip_unreadable(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    picture(data / "a.png")
    urls = list(odd_paths(data))
    store = FaceStore(data / "faces", face_size=32)
    rows = [triplet("a.png", url, "a.png") for url in urls] + [triplet("a.png", "a.png", "a.png")]
    resolved = finishes_within(10, store.resolve_triplets, rows, data, skip_unreadable=True)
    assert len(resolved.triplets) == 1
    assert dict(resolved.dropped) == {"unreadable image": len(urls)}
    assert resolved.missing_examples[0].startswith("t.csv:1: unreadable image: image path 'images/te\\x00st.png'")


def test_a_box_empty_on_its_picture_names_the_row(tmp_path):
    import pytest

    from fec.errors import DataError

    data = tmp_path / "data"
    data.mkdir()
    picture(data / "a.png")
    sliver = Triplet((FaceRef("a.png", FaceBox(0.5, 0.5000001, 0.25, 0.75)), FaceRef("a.png", BOX), FaceRef("a.png", BOX)),
                     TripletType.ONE_CLASS, (("1", 1),), "t.csv", 1)
    with pytest.raises(DataError) as caught:
        FaceStore(data / "faces", face_size=32).resolve_triplets([sliver], data)
    assert str(caught.value).startswith("t.csv:1: face box FaceBox(left=0.5, right=0.5000001, ")
    assert "is empty after rounding on a" in str(caught.value)


def test_a_malformed_url_is_one_line_naming_the_row_or_dropped_with_skip_unreadable(tmp_path):
    import pytest

    from fec.data.face_store import UnusablePicturePath

    data = tmp_path / "data"
    data.mkdir()
    picture(data / "a.png")
    store = FaceStore(data / "faces", face_size=32)
    row = triplet("a.png", "http://[::1/x.jpg", "a.png")
    with pytest.raises(UnusablePicturePath) as caught:
        store.resolve_triplets([row], data)
    assert str(caught.value) == ("t.csv:1: image URL 'http://[::1/x.jpg' is malformed (Invalid IPv6 URL); "
                                 "fix or remove this CSV row")
    resolved = store.resolve_triplets([row], data, skip_unreadable=True)
    assert resolved.triplets == [] and dict(resolved.dropped) == {"unreadable image": 1}
