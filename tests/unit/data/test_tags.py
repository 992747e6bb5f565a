"""Tag schemes: detection, conversion to BIO, validation and repair, entity spans."""
from __future__ import annotations

import pytest

from ctxlearn.data.tags import (TagSite, bio_labels, detect_scheme, entity_spans, orphan_error, repair_bio,
                                split_tag, to_bio)
from ctxlearn.errors import DataError

SITE = TagSite("f.conll", tuple(range(10, 30)))


@pytest.mark.parametrize("tag, parts", [("O", ("O", "")), ("B-PER", ("B", "PER")), ("I-creative-work", ("I", "creative-work")),
                                        ("S-LOC", ("S", "LOC")), ("L-LOC", ("E", "LOC")), ("U-LOC", ("S", "LOC")),
                                        ("PER", ("", "PER")), ("X-PER", ("", "X-PER")),
                                        ("B_PER", ("B", "PER")), ("I_creative-work", ("I", "creative-work")),
                                        ("B-date_time", ("B", "date_time")), ("OTHER_X", ("", "OTHER_X"))])
def test_split_tag(tag, parts):
    assert split_tag(tag) == parts


# (scheme, tags as written, the same in BIO): one table for detection and conversion
SCHEME_CASES = [
    ("BIO", ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]),
    ("IO", ["I-PER", "I-PER", "O", "I-LOC", "I-ORG"], ["B-PER", "I-PER", "O", "B-LOC", "B-ORG"]),
    ("IO", ["PER", "PER", "O", "LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    ("IOB1", ["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]),
    ("BIOES", ["B-PER", "I-PER", "E-PER", "S-LOC", "O", "S-ORG", "B-ORG", "E-ORG"],
     ["B-PER", "I-PER", "I-PER", "B-LOC", "O", "B-ORG", "B-ORG", "I-ORG"]),
    ("BIOES", ["B-PER", "L-PER", "U-LOC"], ["B-PER", "I-PER", "B-LOC"]),  # BILOU reads as BIOES
    ("BIO", ["B_PER", "I_PER", "O", "B_LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # underscore joiners
]


@pytest.mark.parametrize("scheme, tags, bio", SCHEME_CASES)
def test_detect_and_convert(scheme, tags, bio):
    assert detect_scheme([tags, ["O"]]) == scheme
    assert to_bio(tags, scheme, SITE) == bio


def test_b_after_o_means_bio_not_iob1():
    assert detect_scheme([["I-PER", "O"], ["O", "B-PER", "I-PER"]]) == "BIO"


@pytest.mark.parametrize("scheme, tags, bad, message", [
    ("BIO", ["O", "E-PER"], 1, "'E-PER' is not a BIO tag"),
    ("IO", ["I-PER", "B-PER"], 1, "'B-PER' is not a IO tag"),
    ("BIO", ["O", "PER"], 1, "'PER' is not a BIO tag"),
    ("BIOES", ["B-"], 0, "has a prefix but no entity type"),
    ("BIO", ["O", ""], 1, "empty tag"),
    # slips no scheme has, each named
    ("BIO", ["B-PER", "0"], 1, r"'0' is not a BIO tag \(the digit 0: outside is the letter O\)"),
    ("BIO", ["B-PER", "b-per"], 1, r"'b-per' is not a BIO tag \(prefixes are upper case: B-per\)"),
])
def test_bad_tags_name_the_line(scheme, tags, bad, message):
    with pytest.raises(DataError, match=message) as info:
        to_bio(tags, scheme, SITE)
    assert info.value.line == SITE.lines[bad] and info.value.field == "tag"


def test_jsonl_site_names_the_element():
    site = TagSite("f.jsonl", (4, 4, 4), "tags", indexed=True)
    err = orphan_error(["O", "O", "I-PER"], site)
    assert err.line == 4 and err.field == "tags[2]"
    assert "f.jsonl:4" in str(err) and "B-PER" in str(err)


@pytest.mark.parametrize("tags, first_bad", [(["I-PER"], 0), (["O", "I-PER"], 1), (["B-LOC", "I-PER"], 1),
                                             (["B-PER", "I-PER", "O", "I-PER"], 3)])
def test_orphan_i_is_an_error_or_repaired(tags, first_bad):
    err = orphan_error(tags, SITE)
    assert "continues no PER entity" in str(err) and err.line == SITE.lines[first_bad]
    assert repair_bio(tags)[first_bad] == "B-PER"


def test_entity_spans_and_labels():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-PER"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]
    assert bio_labels({"PER", "LOC"}) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
