"""Span folders: which spans a data directory holds, the window a run reads, one reader over several spans, and
how `dlqos run` and `dlqos data fetch` find and make them."""
import os

import pytest

from data import spans
from data.readers import Record
from data.sources import RawFiles
from dlqos import cli
from common.errors import ConfigError, DataError
from dlqos.runs import RunOptions, spanned_raw_files
from tests.helpers import write_fashion_like_dir


def test_span_folders_and_the_window_ending_at_the_resolved_span(tmp_path):
    for name in ("span-1", "span-2", "span-10", "span-x", "other"):
        (tmp_path / name).mkdir()
    assert spans.spans_in(str(tmp_path)) == [1, 2, 10]
    assert spans.window(str(tmp_path), latest=10, size=2) == [2, 10]
    assert spans.window(str(tmp_path), latest=2, size=5) == [1, 2]  # never a span newer than the driver's
    assert spans.spanned({"train": "train-*"}) == {"train": "span-{SPAN}/train-*"}
    raw = spans.at_span(RawFiles(str(tmp_path), {"train": "train-*"}, "directory d"), 2)
    assert (raw.base, raw.patterns, raw.source) == (str(tmp_path / "span-2"), {"train": "train-*"},
                                                     "directory d, span 2")


class _Reader:
    def __init__(self, span):
        self.span = span

    def facts(self):
        return {"class_names": ["a"], "source": f"directory d, span {self.span}"}

    def units(self, split):
        return [f"{split}-{self.span}"]

    def read(self, unit):
        yield Record(key=(0,), label=self.span, example=unit.encode())


def test_one_reader_over_spans_orders_the_newest_span_first_and_names_the_spans():
    reader = spans.SpanReader([1, 2], [_Reader(1), _Reader(2)])
    assert reader.units("train") == [(1, "train-1"), (2, "train-2")]
    records = [record for unit in reader.units("train") for record in reader.read(unit)]
    assert sorted(records)[0].key == (-2, 0) and [r.label for r in sorted(records)] == [2, 1]
    assert reader.facts() == {"class_names": ["a"], "spans": [1, 2], "source": "directory d, spans 1, 2"}
    assert spans.SpanReader([3], [_Reader(3)]).facts()["source"] == "directory d, span 3"


def test_a_data_dir_with_span_folders_is_read_by_spans(tmp_path):
    for span in (1, 2):
        write_fashion_like_dir(str(tmp_path / f"span-{span}"), n_train=20, n_eval=10)
    raw, window = spanned_raw_files("fashion_mnist", RunOptions(data_dir=str(tmp_path)))
    assert (raw.base, window, raw.source) == (str(tmp_path), 1, f"directory {tmp_path}")
    assert spanned_raw_files("fashion_mnist", RunOptions(data_dir=str(tmp_path), span_window=2))[1] == 2
    os.remove(tmp_path / "span-2" / "t10k-labels-idx1-ubyte.gz")  # the latest span is checked as any data dir is
    with pytest.raises(DataError, match="span-2/t10k-labels-idx1-ubyte.gz is missing"):
        spanned_raw_files("fashion_mnist", RunOptions(data_dir=str(tmp_path)))


def test_a_span_window_without_span_folders_is_refused(tmp_path):
    data = write_fashion_like_dir(str(tmp_path / "flat"), n_train=20, n_eval=10)
    assert spanned_raw_files("fashion_mnist", RunOptions(data_dir=data))[1] is None  # span 0, as before
    with pytest.raises(ConfigError, match="--span-window reads span-<n>/ folders of --data-dir: .*flat has none"):
        spanned_raw_files("fashion_mnist", RunOptions(data_dir=data, span_window=2))
    with pytest.raises(ConfigError, match="span window must be a whole number >= 1"):
        RunOptions(span_window=0)


def test_data_fetch_puts_a_new_span_in_its_folder(tmp_path, capsys):
    data = write_fashion_like_dir(str(tmp_path / "drop"), n_train=20, n_eval=10)
    root = tmp_path / "root"
    assert cli.main(["data", "fetch", "fashion_mnist", "--data-dir", data, "--to", str(root), "--span", "2"]) == 0
    assert sorted(os.listdir(root / "fashion_mnist" / "span-2")) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"])
    assert f"-> {root}/fashion_mnist/span-2" in capsys.readouterr().out
    assert cli.main(["data", "fetch", "fashion_mnist", "--span", "2"]) == cli.EXIT_USAGE
    assert "--span needs --to" in capsys.readouterr().err
