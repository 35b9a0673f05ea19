"""Any UTF-8 text (a file or a directory of *.txt files): the corpus of the character-level text generator."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional

from components.datasets import sources
from dlqos.errors import DataError

NAME = "text"
DESCRIPTION = "any UTF-8 text given with --data-dir (a .txt file or a directory of them)"


@dataclass(frozen=True)
class TextCorpus:
    text: str
    source: str

    def validate(self, min_chars: int = 202) -> None:
        if len(self.text) < min_chars:
            raise DataError(f"{self.source}: {len(self.text)} characters; at least {min_chars} are needed "
                            "(two windows of 100 + 1)")


def read_utf8(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as why:
        raise DataError(f"{path}: not UTF-8 text (byte {why.start}: {why.reason}); convert it with "
                        f"iconv -t UTF-8") from why
    except OSError as why:
        raise DataError(f"{path}: unreadable ({why})") from why


def load_path(path: str) -> TextCorpus:
    files = sorted(glob.glob(os.path.join(path, "*.txt"))) if os.path.isdir(path) else [path]
    if not files or not os.path.exists(files[0]):
        raise DataError(f"{path}: no .txt files; give a UTF-8 text file or a directory of them")
    return TextCorpus(text="".join(read_utf8(f) for f in files), source=f"{len(files)} file(s) under {path}")


def source_list(data_dir: Optional[str] = None) -> list:
    def from_user() -> TextCorpus:
        if not data_dir:
            raise sources.SourceUnavailable("no --data-dir given")
        return load_path(data_dir)

    return [sources.Source("data-dir", from_user)]


def load(data_dir: Optional[str] = None) -> TextCorpus:
    return sources.first_available(NAME, source_list(data_dir))
