"""DatasetExampleGen: the study's raw dataset files become tf.Examples inside the pipeline.

Built the way TFX's own ExampleGens are: a FileBasedExampleGen (so TFX's driver records span, version and a
fingerprint of the files each split's glob matches under input_base, and a replaced file is a new input) whose
executor's GetInputSourceToExamplePTransform is a Beam PTransform. Files are read through tf.io.gfile (a local
path or gs://) and split into work items the runner can spread over workers: one per idx file pair (streamed
record by record), CIFAR batch file or photo; a text corpus, which is windowed as one sequence, is one item.
The dataset's own train/test split is kept (idx train-*/t10k-*, CIFAR data_batch_*/test_batch, every 5th photo of a
class, every 10th text window). The examples are the ones the study always used (`pixels` int64 0..255 + `label`, or
text `ids`), written into the standard Examples artifact, and the dataset's facts (shape, class names or vocabulary,
counts, source) into `dataset.json` inside that artifact, for the Trainer and DeepDream.

Bad input is a one-line DataError naming the file, raised by the executor (not a Beam traceback): problems found
while reading are collected by the Beam pipeline and raised once it has finished. A corrupt photo is skipped and
counted unless `strict`: the file and the reason are listed in dataset.json's `skipped` and, once the pipeline
has finished, logged as one warning each (where the console sees them, whichever runner read the files).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Mapping, Optional

import apache_beam as beam
from tfx.components.example_gen import component, utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from data import spans
from data.readers import Record
from data.sources import RawFiles
from data.tfrecords import METADATA_FILE
from common.errors import DataError

log = logging.getLogger("dlqos.data")
FACTS_URI = "_dlqos_facts_uri"  # exec property added by Do: where the Beam pipeline writes dataset.json
SPANS_PROPERTY = "spans"  # the Examples artifact's custom property: the spans read, "1,2" ("span" is the newest)


def settings(dataset: str, raw: RawFiles, max_train: Optional[int] = None, max_eval: Optional[int] = None,
             max_classes: Optional[int] = None, strict: bool = False) -> dict:
    """The component's settings as plain data (PipelineConfig.raw_data; JSON in the component's custom_config)."""
    return {"dataset": dataset, "patterns": dict(raw.patterns), "source": raw.source,
            "options": {**raw.options, "max_train": max_train, "max_eval": max_eval, "max_classes": max_classes,
                        "strict": strict}}


def read_settings(exec_properties: Mapping) -> dict:
    from google.protobuf import json_format, struct_pb2

    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], config)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


def _count(value) -> Optional[int]:
    return None if value is None else int(value)


@beam.ptransform_fn
def RawToRecords(pipeline: beam.Pipeline, reader, units: list, limit: Optional[int],  # noqa: N802 (Beam style)
                 max_classes: Optional[int]) -> beam.PCollection:
    """The split's work items, redistributed, each read into Records on whichever worker gets it. (TFX's own
    take exec_properties and a split pattern; the reader already holds both.) A work item stops after `limit`
    examples of the kept classes: the first N examples of the split are among the first N of each item."""
    return (pipeline
            | "WorkItems" >> beam.Create(units)
            | "Redistribute" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_read_safely, reader, limit, max_classes))


def _read_safely(unit, reader, limit: Optional[int], max_classes: Optional[int]):
    """The item's Records, the examples of classes >= max_classes dropped; a DataError becomes an error Record."""
    kept = 0
    try:
        for record in reader.read(unit):
            if record.problem is None and max_classes is not None and record.label >= max_classes:
                continue
            kept += record.problem is None
            yield record
            if limit is not None and kept >= limit:
                return
    except DataError as error:
        yield Record(key=(), label=-1, problem=("error", str(error)))


class Executor(BaseExampleGenExecutor):
    """Raw files -> tf.Examples per split, plus dataset.json inside the Examples artifact."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        return RawToRecords

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]):  # noqa: N802
        dataset = read_settings(exec_properties)
        options = dataset["options"]
        raw = RawFiles(exec_properties[standard_component_specs.INPUT_BASE_KEY], dataset["patterns"],
                       dataset["source"], options)
        reader = _reader(dataset, raw, exec_properties)  # checks what it can before any work: names, headers
        read = self.GetInputSourceToExamplePTransform()
        max_classes = _count(options.get("max_classes"))
        outputs = {}
        counts = {}
        problems = []
        labels = []
        for split in raw.patterns:
            units = reader.units(split)
            limit = _count(options.get(f"max_{split}"))
            records = pipeline | f"InputToRecord[{split}]" >> read(reader, units, limit, max_classes)
            problems.append(records | f"Problems[{split}]" >> beam.Filter(lambda r: r.problem is not None))
            examples = records | f"Examples[{split}]" >> beam.Filter(lambda r: r.problem is None)
            labels.append(examples | f"Labels[{split}]" >> beam.Map(lambda r: r.label))
            if len(units) > 1:  # one item stopped at the limit itself
                examples = _first(examples, limit, split)
            outputs[split] = examples | f"Serialized[{split}]" >> beam.Map(lambda r: r.example)
            counts[split] = beam.pvalue.AsSingleton(outputs[split] | f"Count[{split}]" >> beam.combiners.Count.Globally())
        found = (problems | "AllProblems" >> beam.Flatten()
                 | "Problem" >> beam.Map(lambda r: r.problem))
        per_class = labels | "AllLabels" >> beam.Flatten() | "PerClass" >> beam.combiners.Count.PerElement()
        _ = (pipeline | "Facts" >> beam.Create([reader.facts()])
             | "WriteFacts" >> beam.Map(_write_facts, exec_properties[FACTS_URI], beam.pvalue.AsList(found),
                                        beam.pvalue.AsDict(per_class), **counts))
        return outputs

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX's name)
        """Runs the Beam pipeline, warns of each skipped file, then raises the first problem it found as one
        DataError naming the file."""
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        super().Do(input_dict, output_dict, {**exec_properties, FACTS_URI: examples.uri})
        facts = read_facts(examples.uri)
        # TFX's driver records the span as a custom property only; the typed property is what StatisticsGen copies
        # onto the statistics, which the DriftValidator compares span by span (no driver, as in a direct call: 0).
        examples.span = int(exec_properties.get(utils.SPAN_PROPERTY_NAME) or 0)
        if "spans" in facts:
            examples.set_string_custom_property(SPANS_PROPERTY, ",".join(map(str, facts["spans"])))
        for message in facts.get("skipped", []):
            log.warning("skipped %s", message)
        if facts.get("errors"):
            raise DataError(facts["errors"][0])
        for split, count in facts["counts"].items():
            if not count:
                raise DataError(f"{facts['source']}: no examples for the {split} split")


def _reader(dataset: Mapping, raw: RawFiles, exec_properties: Mapping):
    """The dataset's reader; on span folders a SpanReader over the window ending at the span TFX's driver
    resolved (exec property `span`)."""
    from data.readers import reader_for

    if dataset.get("span_window") is None:
        return reader_for(dataset["dataset"], raw, dataset["options"])
    read = spans.window(raw.base, int(exec_properties[utils.SPAN_PROPERTY_NAME]), int(dataset["span_window"]))
    return spans.SpanReader(read, [reader_for(dataset["dataset"], spans.at_span(raw, span), dataset["options"])
                                   for span in read])


class DatasetExampleGen(component.FileBasedExampleGen):
    """ExampleGen for the study's datasets: input_base holds the raw files, `settings` (see settings()) says
    which dataset, the glob of each split, and the limits; with `span_window` N (not None) the globs are under
    span-{SPAN}/ and a run reads the latest N spans (data.spans)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, input_base: str, dataset_settings: Mapping, span_window: Optional[int] = None):
        from google.protobuf import json_format, struct_pb2

        patterns = dataset_settings["patterns"]
        if span_window is not None:
            dataset_settings = {**dataset_settings, "span_window": span_window}
            patterns = spans.spanned(patterns)
        config = example_gen_pb2.CustomConfig()
        config.custom_config.Pack(json_format.ParseDict(dict(dataset_settings), struct_pb2.Struct()))
        super().__init__(input_base=input_base, custom_config=config, input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=name, pattern=pattern) for name, pattern in patterns.items()]))


def _first(examples, limit: Optional[int], split: str):
    """The `limit` examples with the smallest keys (the files' own order, as the study always took them) of several
    work items; only the keys meet on one worker, never the examples."""
    if limit is None:
        return examples
    last = (examples | f"Keys[{split}]" >> beam.Map(lambda r: r.key)
            | f"Smallest[{split}]" >> beam.combiners.Top.Smallest(limit)
            | f"Last[{split}]" >> beam.Map(lambda keys: keys[-1] if keys else None))
    return examples | f"First[{split}]" >> beam.Filter(lambda r, last: last is not None and r.key <= last,
                                                        beam.pvalue.AsSingleton(last))


def _write_facts(facts: dict, uri: str, problems: list, per_class: dict, **counts) -> None:
    import tensorflow as tf

    skipped = sorted(message for kind, message in problems if kind == "skipped")
    facts = {**facts, "counts": counts, "skipped": skipped,
             "errors": sorted(message for kind, message in problems if kind == "error") + _vanished_classes(
                 facts, per_class)}
    if skipped:
        facts["source"] += f" ({len(skipped)} corrupt {facts.pop('skipped_what', 'files')} skipped)"
    facts.pop("skipped_what", None)
    facts.pop("every_class_required", None)
    with tf.io.gfile.GFile(os.path.join(uri, METADATA_FILE), "w") as f:
        json.dump(facts, f, indent=2)


def _vanished_classes(facts: dict, per_class: dict) -> list:
    """Where every class is required (photo folders): one error per class with no readable example, so that a
    class whose files are all corrupt fails the run as an empty class folder does, instead of silently leaving a
    model with fewer classes."""
    if not facts.get("every_class_required"):
        return []
    return [f"{facts['source']}: class '{name}' has no readable images (every file in its folder is corrupt)"
            for label, name in enumerate(facts.get("class_names", [])) if not per_class.get(label)]


def read_facts(examples_uri: str) -> dict:
    """dataset.json inside an Examples artifact."""
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(examples_uri, METADATA_FILE)) as f:
        return json.load(f)

