"""The shared base of the ExampleGen's format readers: the Record a reader yields, the tf.Example helpers and
the image formats' common facts. Each format's reader lives in its format module (data/idx.py, cifar10.py,
image_folder.py, photos.py, text.py) and its Dataset names it; this module knows no format.

A reader checks at construction what it can without reading the data (file names, idx headers, class folders, a
text's characters) so that those errors come before any Beam work; `units(split)` are small, picklable work items
and `read(unit)` yields Records on whichever worker runs it. `facts()` are dataset.json's static facts.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from data.sources import RawFiles
from common.errors import DataError


class Record(NamedTuple):
    """One read item: its order key (the first N examples are the N smallest keys), label, the serialized example,
    or a problem ('skipped' or 'error', message) instead."""

    key: tuple
    label: int
    example: Optional[bytes] = None
    problem: Optional[tuple] = None


def example(**features) -> bytes:
    """A serialized tf.Example of int64 list features."""
    import tensorflow as tf

    return tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(int64_list=tf.train.Int64List(value=values)) for name, values in features.items()
    })).SerializeToString()


def image_record(key: tuple, label: int, pixels) -> Record:
    return Record(key, int(label), example(pixels=list(pixels) if isinstance(pixels, bytes)  # idx: bytes 0..255
                                           else pixels.reshape(-1).tolist(), label=[int(label)]))


def unreadable(key: tuple, error: DataError, strict: bool) -> Record:
    """A corrupt image: an error when strict, else skipped and counted."""
    return Record(key, -1, problem=("error" if strict else "skipped", str(error)))


class ImageReader:
    """Facts shared by the image formats."""

    skipped_what = "images"
    # A class whose every file is unreadable fails the run, as an empty class folder does, instead of vanishing.
    every_class_required = False

    def __init__(self, raw: RawFiles, options: dict, class_names, shape):
        self.raw = raw
        self.strict = bool(options.get("strict"))
        self.max_classes = options.get("max_classes")
        self.class_names = list(class_names)
        self.shape = list(shape)

    def facts(self) -> dict:
        names = self.class_names
        source = self.raw.source
        if self.max_classes is not None and int(self.max_classes) < len(names):
            names = names[:int(self.max_classes)]
            source = f"{source}, first {int(self.max_classes)} classes"
        return {"shape": self.shape, "class_names": names, "source": source, "skipped_what": self.skipped_what,
                "every_class_required": self.every_class_required,
                "features": {"pixels": "int64", "label": "int64"}}


def reader_for(dataset: str, raw: RawFiles, options: dict):
    """The reader of the dataset's raw format, as its Dataset declares it."""
    from data import get_dataset

    return get_dataset(dataset).reader(raw, options)
