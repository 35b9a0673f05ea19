"""How the ExampleGen reads each raw format: work items per split, and each item read into Records.

A reader checks at construction what it can without reading the data (file names, idx headers, class folders, a
text's characters) so that those errors come before any Beam work; `units(split)` are small, picklable work items
and `read(unit)` yields Records on whichever worker runs it. `facts()` are dataset.json's static facts.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

from data.sources import RawFiles
from dlqos.errors import DataError


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
        self.raw, self.strict = raw, bool(options.get("strict"))
        self.max_classes = options.get("max_classes")
        self.class_names, self.shape = list(class_names), list(shape)

    def facts(self) -> dict:
        names, source = self.class_names, self.raw.source
        if self.max_classes is not None and int(self.max_classes) < len(names):
            names, source = names[:int(self.max_classes)], f"{source}, first {int(self.max_classes)} classes"
        return {"shape": self.shape, "class_names": names, "source": source, "skipped_what": self.skipped_what,
                "every_class_required": self.every_class_required,
                "features": {"pixels": "int64", "label": "int64"}}


class IdxReader(ImageReader):
    """MNIST-style idx files: one work item per split (its images and labels files), streamed record by record."""

    def __init__(self, raw: RawFiles, options: dict, class_names, dataset: str):
        from data import idx

        idx.raw_from(raw.base, raw.source, dataset)
        self.pairs, shapes = {}, set()
        for split in raw.patterns:
            files = raw.files(split)
            images = next(path for path in files if idx.expected_magic(path) == idx.IMAGES_MAGIC)
            labels = next(path for path in files if idx.expected_magic(path) == idx.LABELS_MAGIC)
            image_dims, label_dims = idx.idx_dims(images, idx.IMAGES_MAGIC), idx.idx_dims(labels, idx.LABELS_MAGIC)
            if image_dims[0] != label_dims[0]:
                raise DataError(f"{labels}: {label_dims[0]} labels for {image_dims[0]} images")
            shapes.add(tuple(image_dims[1:]))
            self.pairs[split] = (images, labels)
        if len(shapes) != 1:
            raise DataError(f"{raw.base}: train and eval image shapes differ ({sorted(shapes)})")
        super().__init__(raw, options, class_names, [*shapes.pop(), 1])

    def units(self, split: str) -> list:
        return [self.pairs[split]]

    def read(self, unit) -> Iterator[Record]:
        from data import idx

        images, labels = unit
        for index, (pixels, label) in enumerate(zip(idx.iter_idx(images, idx.IMAGES_MAGIC),
                                                    idx.iter_idx(labels, idx.LABELS_MAGIC))):
            yield image_record((index,), label[0], pixels)


class CifarReader(ImageReader):
    """CIFAR-10's python batches: one work item per batch file (a pickle is read whole: 10,000 images)."""

    def __init__(self, raw: RawFiles, options: dict):
        from data import cifar10

        cifar10.raw_from(raw.base, raw.source)
        super().__init__(raw, options, cifar10.CLASS_NAMES, (32, 32, 3))

    def units(self, split: str) -> list:
        return list(enumerate(self.raw.files(split)))

    def read(self, unit) -> Iterator[Record]:
        from data import cifar10

        rank, path = unit
        images, labels = cifar10.read_batch(path)
        for index, (pixels, label) in enumerate(zip(images, labels)):
            yield image_record((rank, index), label, pixels)


class FolderReader(ImageReader):
    """One subfolder of photos per class: one work item per photo; every 5th photo of a class is eval."""

    every_class_required = True

    def __init__(self, raw: RawFiles, options: dict):
        from data import image_folder

        self.classes = image_folder.class_files(raw.base)
        super().__init__(raw, options, [name for name, _ in self.classes],
                         (image_folder.IMAGE_SIZE, image_folder.IMAGE_SIZE, 3))

    def units(self, split: str) -> list:
        from data.image_folder import split_of

        return [(path, label, number) for label, (_, paths) in enumerate(self.classes)
                for number, path in enumerate(paths) if split_of(number) == split]

    def read(self, unit) -> Iterator[Record]:
        from data.image_folder import read_image

        path, label, number = unit
        try:
            yield image_record((label, number), label, read_image(path))
        except DataError as error:
            yield unreadable((label, number), error, self.strict)


class PhotosReader(ImageReader):
    """Photos to dream on (a handful): one work item; the last readable photo is eval, the others train (a single
    photo is in both). Skipped photos are counted once, with the train split."""

    skipped_what = "photos"

    def __init__(self, raw: RawFiles, options: dict):
        from data import photos

        self.paths = photos.photo_paths(raw.base)
        super().__init__(raw, options, ["photo"], (photos.PHOTO_SIZE, photos.PHOTO_SIZE, 3))

    def units(self, split: str) -> list:
        return [split]

    def read(self, unit) -> Iterator[Record]:
        from data.photos import read_photo

        readable = []
        for index, path in enumerate(self.paths):
            try:
                readable.append((index, read_photo(path)))
            except DataError as error:
                if unit == "train" or self.strict:
                    yield unreadable((index,), error, self.strict)
        chosen = readable[-1:] if unit == "eval" else (readable[:-1] or readable)
        for index, pixels in chosen:
            yield image_record((index,), 0, pixels)


class TextReader:
    """A text corpus, windowed as one sequence (one work item per split): every 10th window of SEQUENCE_LENGTH + 1
    characters is eval; ids index the vocabulary (the declared alphabet, or the text's own characters)."""

    def __init__(self, raw: RawFiles, options: dict):
        from data.text import read_raw
        from data.tfrecords import SEQUENCE_LENGTH

        self.raw = raw
        corpus = read_raw(raw)
        corpus.validate(2 * (SEQUENCE_LENGTH + 1))
        self.vocabulary, self.window = corpus.vocabulary(), SEQUENCE_LENGTH + 1

    def facts(self) -> dict:
        from data.tfrecords import SEQUENCE_LENGTH

        return {"format": "text", "sequence_length": SEQUENCE_LENGTH, "vocabulary": self.vocabulary,
                "source": self.raw.source, "features": {"ids": "int64"}}

    def units(self, split: str) -> list:
        return [split]

    def read(self, unit) -> Iterator[Record]:
        from data.text import read_raw
        from data.tfrecords import EVAL_EVERY

        text, index = read_raw(self.raw).text, {char: i for i, char in enumerate(self.vocabulary)}
        for number, start in enumerate(range(0, len(text) - self.window + 1, self.window)):
            if ("eval" if number % EVAL_EVERY == EVAL_EVERY - 1 else "train") == unit:
                yield Record((number,), 0, example(ids=[index[c] for c in text[start:start + self.window]]))


def reader_for(dataset: str, raw: RawFiles, options: dict):
    """The reader of the dataset's raw format, as its Dataset declares it."""
    from data import get_dataset

    return get_dataset(dataset).reader(raw, options)
