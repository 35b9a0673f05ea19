"""Spans: each drop of a dataset's raw files is a folder `span-<n>/` under the data directory, as TFX's
`{SPAN}` pattern spec reads it.

DATA_ROOT/fashion_mnist/span-1/{train,t10k}-*-ubyte.gz is span 1; a later drop in span-2/ is span 2. The
ExampleGen's input_config globs become `span-{SPAN}/<glob>`: TFX's FileBasedDriver resolves the latest span whose every
split matches, fingerprints its files and records its number as the Examples artifact's `span`; the executor reads
that span and, with a window of N, the N-1 spans before it (SpanReader). A data directory without span folders is
read as before and is span 0.
"""
from __future__ import annotations

import os
import re
from typing import Iterator, List, Mapping, Sequence

from data.readers import Record
from data.sources import RawFiles

SPAN_SPEC = "{SPAN}"  # TFX's span placeholder (tfx.components.example_gen.utils.SPAN_SPEC)
SPAN_FOLDER = f"span-{SPAN_SPEC}"
_SPAN_NAME = re.compile(r"span-(\d+)")


def folder(span: int) -> str:
    return SPAN_FOLDER.replace(SPAN_SPEC, str(span))


def spans_in(base: str) -> List[int]:
    """The span numbers of the span-<n>/ folders directly under base (local or gs://), ascending."""
    import tensorflow as tf

    names = [os.path.basename(path.rstrip("/")) for path in tf.io.gfile.glob(os.path.join(base, "span-*"))]
    return sorted(int(match.group(1)) for match in map(_SPAN_NAME.fullmatch, names) if match)


def spanned(patterns: Mapping[str, str]) -> dict:
    """Each split's glob under span-{SPAN}/."""
    return {split: f"{SPAN_FOLDER}/{pattern}" for split, pattern in patterns.items()}


def at_span(raw: RawFiles, span: int) -> RawFiles:
    """The raw files of one span: the dataset's own globs in its span-<n>/ folder."""
    return RawFiles(os.path.join(raw.base, folder(span)), raw.patterns, f"{raw.source}, span {span}", raw.options)


def window(base: str, latest: int, size: int) -> List[int]:
    """The spans a run reads: the `size` highest span folders up to `latest` (the span TFX's driver resolved),
    ascending."""
    return [span for span in spans_in(base) if span <= latest][-size:]


class SpanReader:
    """One dataset reader per span, read as one: a work item is (span, the span's own item), and a record's order
    key starts with minus the span, so that the first N examples (a profile's limit) come from the newest span."""

    def __init__(self, spans: Sequence[int], readers: Sequence):
        self.readers = dict(zip(spans, readers))

    def facts(self) -> dict:
        newest = self.readers[max(self.readers)]
        spans = sorted(self.readers)
        facts = newest.facts()
        return {**facts, "spans": spans,
                "source": f"{facts['source'].rsplit(', span ', 1)[0]}, span{'s' if len(spans) > 1 else ''} "
                          f"{', '.join(map(str, spans))}"}

    def units(self, split: str) -> list:
        return [(span, unit) for span, reader in self.readers.items() for unit in reader.units(split)]

    def read(self, unit) -> Iterator[Record]:
        span, own = unit
        for record in self.readers[span].read(own):
            yield record._replace(key=(-span, *record.key))
