"""Arrays (ImageSplits, a TextCorpus) to sharded, GZIP-compressed tf.Example TFRecords with their dataset.json: the
layout `--examples-dir` hands to ImportExampleGen, holding the examples DatasetExampleGen emits (the pipeline reads
raw files with components.examplegen; tests and benchmarks/data_conversion.py write these).

Small fixed-size images are stored as `pixels`: an int64 list of H*W*C values in 0..255, plus `label`.
Integers keep StatisticsGen/SchemaGen meaningful (pixel ranges, fixed shape) and let a raw-pixel serving
signature reuse the Transform graph unchanged. The output directory appears only when complete.
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional

import numpy as np

from data.sources import Progress, atomic_directory
from data.splits import SPLITS, ImageSplits

EXAMPLES_PER_SHARD = 10_000
PROGRESS_FROM = 20_000  # conversions of more images than this show a progress bar
METADATA_FILE = "dataset.json"


def _write_metadata(directory: str, metadata: dict) -> dict:
    with open(os.path.join(directory, METADATA_FILE), "w") as f:
        json.dump(metadata, f, indent=2)
    return metadata


def write_image_examples(splits: ImageSplits, out_dir: str, max_train: Optional[int] = None,
                         max_eval: Optional[int] = None) -> dict:
    """Write the first max_train / max_eval examples of each split; returns the dataset metadata."""
    import tensorflow as tf

    splits.validate()
    with atomic_directory(out_dir) as staging:
        counts = {}
        for split, limit in (("train", max_train), ("eval", max_eval)):
            images, labels = getattr(splits, split)
            count = len(images) if limit is None else min(limit, len(images))
            counts[split] = count
            _write_split(tf, images[:count], labels[:count], os.path.join(staging, split))
        return _write_metadata(staging, {
            "shape": list(splits.train[0].shape[1:]), "class_names": list(splits.class_names), "counts": counts,
            "source": splits.source, "features": {"pixels": "int64", "label": "int64"}})


def _write_split(tf, images: np.ndarray, labels: np.ndarray, directory: str) -> None:
    os.makedirs(directory)
    flat = images.reshape(len(images), -1)
    shards = max(1, math.ceil(len(images) / EXAMPLES_PER_SHARD))
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    progress = Progress(f"{os.path.basename(directory)} TFRecords", len(images), " examples",
                        threshold=PROGRESS_FROM)
    for shard in range(shards):
        path = os.path.join(directory, f"data-{shard:05d}-of-{shards:05d}.tfrecord.gz")
        with tf.io.TFRecordWriter(path, options) as writer:
            for index in range(shard * EXAMPLES_PER_SHARD, min(len(images), (shard + 1) * EXAMPLES_PER_SHARD)):
                example = tf.train.Example(features=tf.train.Features(feature={
                    "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=flat[index].tolist())),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(labels[index])])),
                }))
                writer.write(example.SerializeToString())
                progress.update(index + 1)
    progress.close()


SEQUENCE_LENGTH = 100  # the char-RNN's input length; each window holds one more character for the target
EVAL_EVERY = 10  # every 10th window goes to eval: deterministic, and both splits cover the whole text


def write_text_examples(corpus, out_dir: str, max_train: Optional[int] = None, max_eval: Optional[int] = None) -> dict:
    """Windows of SEQUENCE_LENGTH + 1 characters as `ids` (int64, indices into the corpus' sorted vocabulary,
    saved in dataset.json), split every EVAL_EVERY-th window to eval."""
    import tensorflow as tf

    corpus.validate(2 * (SEQUENCE_LENGTH + 1))
    vocabulary = corpus.vocabulary()
    index = {char: i for i, char in enumerate(vocabulary)}
    window = SEQUENCE_LENGTH + 1
    with atomic_directory(out_dir) as staging:
        limits = {"train": max_train, "eval": max_eval}
        counts = {"train": 0, "eval": 0}
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        writers = {}
        for split in SPLITS:
            os.makedirs(os.path.join(staging, split))
            writers[split] = tf.io.TFRecordWriter(os.path.join(staging, split, "data-00000-of-00001.tfrecord.gz"),
                                                  options)
        for number, start in enumerate(range(0, len(corpus.text) - window + 1, window)):
            split = "eval" if number % EVAL_EVERY == EVAL_EVERY - 1 else "train"
            if limits[split] is not None and counts[split] >= limits[split]:
                continue
            ids = [index[c] for c in corpus.text[start:start + window]]
            example = tf.train.Example(features=tf.train.Features(feature={
                "ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}))
            writers[split].write(example.SerializeToString())
            counts[split] += 1
        for writer in writers.values():
            writer.close()
        return _write_metadata(staging, {"format": "text", "sequence_length": SEQUENCE_LENGTH,
                                         "vocabulary": vocabulary, "counts": counts, "source": corpus.source,
                                         "features": {"ids": "int64"}})


def write_examples(data, out_dir: str, max_train: Optional[int] = None, max_eval: Optional[int] = None) -> dict:
    """The writer for what a dataset module loaded: images or text."""
    if isinstance(data, ImageSplits):
        return write_image_examples(data, out_dir, max_train, max_eval)
    return write_text_examples(data, out_dir, max_train, max_eval)
