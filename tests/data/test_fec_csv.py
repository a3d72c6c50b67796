from __future__ import annotations

import pytest

from fec.data.fec_csv import read_triplets, write_fec_csv
from fec.data.triplets import TripletType, high_agreement, majority_label
from fec.errors import DataError
from tests.helpers import fec_row


def test_parses_quoted_official_row(write_csv):
    parsed = read_triplets(write_csv([fec_row(labels=(1, 1, 1, 2, 1, 3))]))
    (triplet,) = parsed.triplets
    assert triplet.type is TripletType.ONE_CLASS
    assert [face.url for face in triplet.faces] == ["a.png", "b.png", "c.png"]
    assert triplet.faces[0].box.left == 0.1 and triplet.faces[0].box.bottom == 0.9
    assert triplet.odd == 1
    assert triplet.agreement == pytest.approx(4 / 6)
    assert triplet.line == 1


def test_parses_unquoted_fields_and_other_rater_counts(write_csv):
    row = "x.jpg,0,1,0,1,y.jpg,0,1,0,1,z.jpg,0,1,0,1,THREE_CLASS_TRIPLET,7,3,8,3,9,2"
    parsed = read_triplets(write_csv([row, fec_row(labels=(2,) * 8)]))
    assert [len(t.annotations) for t in parsed.triplets] == [3, 8]
    assert parsed.triplets[0].odd == 3 and parsed.triplets[1].odd == 2


def test_ties_go_to_the_label_that_appears_first():
    assert majority_label((("r1", 3), ("r2", 1), ("r3", 1), ("r4", 3))) == (3, 0.5)
    assert majority_label((("r1", 2), ("r2", 1))) == (2, 0.5)


def test_high_agreement_subset_keeps_two_thirds_or_more(write_csv):
    rows = [fec_row(labels=(1, 1, 1, 1, 2, 3)), fec_row(labels=(1, 1, 1, 2, 2, 3)), fec_row(labels=(1, 1, 2, 2, 3, 3))]
    triplets = read_triplets(write_csv(rows)).triplets
    assert [t.agreement for t in triplets] == pytest.approx([4 / 6, 3 / 6, 2 / 6])
    assert [t.line for t in high_agreement(triplets)] == [1]


@pytest.mark.parametrize(
    "row, message",
    [
        ('"a.png",0.1,0.9,0.1', "expected at least 18 fields"),
        (fec_row(box="0.1,0.9,0.1,1.5"), "face 1: box bottom 1.5 is outside [0, 1]"),
        (fec_row(box="0.5,0.4,0.1,0.9"), "face 1: box is empty"),
        (fec_row(kind="FOUR_CLASS_TRIPLET"), "unknown triplet type 'FOUR_CLASS_TRIPLET'"),
        (fec_row(labels=(1, 4)), "annotation 2 must be 1, 2 or 3 (the odd face), got 4"),
        (fec_row(box="0.1,abc,0.1,0.9"), "face 1: box fields must be numbers"),
        (fec_row() + ',"105"', "rater fields must come in (annotator id, annotation) pairs"),
    ],
)
def test_malformed_rows_name_file_line_and_problem(write_csv, row, message):
    path = write_csv([fec_row(), row])
    with pytest.raises(DataError) as error:
        read_triplets(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert message in str(error.value)


def test_skip_bad_rows_counts_instead_of_stopping(write_csv):
    path = write_csv([fec_row(), fec_row(kind="NOPE"), fec_row(labels=(0,)), fec_row()])
    parsed = read_triplets(path, skip_bad_rows=True)
    assert len(parsed.triplets) == 2
    assert [row.line for row in parsed.bad_rows] == [2, 3]


def test_legacy_list_format(write_csv):
    path = write_csv(["x/1.jpg,x/2.jpg,x/3.jpg,2,TWO_CLASS_TRIPLET", "x/4.jpg,x/5.jpg,x/6.jpg,3,ONE_CLASS"])
    parsed = read_triplets(path)
    assert parsed.format == "legacy"
    assert [(t.odd, t.type) for t in parsed.triplets] == [(2, TripletType.TWO_CLASS), (3, TripletType.ONE_CLASS)]
    assert parsed.triplets[0].faces[0].box.right == 1.0


def test_legacy_label_outside_range_is_an_error(write_csv):
    path = write_csv(["a,b,c,1,ONE_CLASS", "a,b,c,0,ONE_CLASS"])
    with pytest.raises(DataError, match=r":2: label must be 1, 2 or 3"):
        read_triplets(path)


def test_write_then_read_round_trips(write_csv, tmp_path):
    original = read_triplets(write_csv([fec_row(labels=(3, 3, 1)), fec_row(kind="TWO_CLASS_TRIPLET")])).triplets
    out = tmp_path / "out.csv"
    write_fec_csv(out, original)
    again = read_triplets(out).triplets
    assert [(t.faces, t.type, t.annotations) for t in again] == [(t.faces, t.type, t.annotations) for t in original]


def test_missing_file_and_binary_file_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_triplets(tmp_path / "absent.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(DataError, match="not a text CSV file"):
        read_triplets(binary)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_url(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + fec_row() + "\n", encoding="utf-8")
    (triplet,) = read_triplets(path).triplets
    assert triplet.faces[0].url == "a.png"


def test_a_field_over_the_csv_size_limit_names_its_line(write_csv):
    path = write_csv([fec_row(), fec_row(), fec_row(urls=("a" * 200_000, "b.png", "c.png"))])
    with pytest.raises(DataError) as caught:
        read_triplets(path)
    assert str(caught.value) == f"{path}:3: unreadable CSV (field larger than field limit (131072)); fix or remove this row"
