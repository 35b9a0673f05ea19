"""Any UTF-8 text (a file or a directory of *.txt files): the corpus of the character-level text generator.

Every corpus is cleaned of file-format debris, which would otherwise become characters the model learns and
samples: Windows and old-Mac line endings (\r\n, \r) become \n; byte-order marks (U+FEFF, anywhere: files are
concatenated) and DOS end-of-file marks (\x1a) are dropped.

`to_tutorial_alphabet` maps text onto the TF text-generation tutorial's 65 characters (TUTORIAL_ALPHABET:
newline, space, !$&',-.3:;?, A-Z, a-z), so that the paper's model is Embedding(65, 256) + GRU(1024) +
Dense(65). Characters of the alphabet are kept (tiny-shakespeare passes unchanged); every other is rewritten
by this table:

| input | becomes |
| --- | --- |
| letters with accents or ligatures (é, Æ, œ, ß) | the base letters (e, AE, oe, ss) |
| a run of digits other than 3s (SCENE 1., 1623) | its Roman numeral (SCENE I., MDCXXIII), as the plays number acts; 0 and runs over 3999 are dropped |
| double and curly quotes, backtick, acute accent (" “ ” ‘ ’ ` ´) | ' |
| dashes (– — ‒ ―) | - |
| ellipsis … | ... |
| tab, no-break space, other spaces | space |
| £ | $ |
| anything else: brackets of stage directions ([ ] ( ) { }), _ * @ ~ + = / | # < > and other symbols | dropped |
"""
from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

from data import readers, sources
from data.sources import RawFiles
from data.tfrecords import EVAL_EVERY, SEQUENCE_LENGTH
from common.errors import DataError

NAME = "text"
DESCRIPTION = "any UTF-8 text given with --data-dir (a .txt file or a directory of them)"
PATTERNS = {"train": "*.txt", "eval": "*.txt"}  # a fetched copy (dlqos data fetch text --to DIR)


TUTORIAL_ALPHABET: Tuple[str, ...] = tuple(sorted("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_LINE_DEBRIS = re.compile("\r\n?|[\ufeff\x1a]")
_TRANSLITERATION = str.maketrans({**dict.fromkeys("\"\u201c\u201d\u2018\u2019`\u00b4", "'"),
                                  **dict.fromkeys("\u2012\u2013\u2014\u2015", "-"), "\u2026": "...",
                                  **dict.fromkeys("\t\u00a0\u2002\u2003\u2009", " "), "\u00a3": "$",
                                  "\u00c6": "AE", "\u00e6": "ae", "\u0152": "OE", "\u0153": "oe", "\u00df": "ss"})
_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
          (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


@dataclass(frozen=True)
class TextCorpus:
    text: str
    source: str
    alphabet: Optional[Tuple[str, ...]] = None  # the model's characters; None: those the text holds

    def vocabulary(self) -> list:
        """The sorted characters the model predicts: the declared alphabet, so a character the text happens to
        lack (Shakespeare's plays have no $) still has its id, or else the text's own characters."""
        return sorted(self.alphabet or set(self.text))

    def validate(self, min_chars: int = 202) -> None:
        if len(self.text) < min_chars:
            raise DataError(f"{self.source}: {len(self.text)} characters; at least {min_chars} are needed "
                            "(two windows of 100 + 1)")


def clean_line_debris(text: str) -> str:
    """\r\n and \r -> \n; byte-order marks and DOS end-of-file marks dropped (see the module docstring)."""
    return _LINE_DEBRIS.sub(lambda m: "\n" if m.group().startswith("\r") else "", text)


def roman_numeral(number: int) -> str:
    """1..3999 as a Roman numeral; anything else as '' (dropped)."""
    if not 0 < number < 4000:
        return ""
    digits = []
    for value, letters in _ROMAN:
        count, number = divmod(number, value)
        digits.append(letters * count)
    return "".join(digits)


def to_tutorial_alphabet(text: str) -> str:
    """The text in TUTORIAL_ALPHABET, by the module docstring's table; idempotent."""
    text = clean_line_debris(text).translate(_TRANSLITERATION)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"\d+", lambda m: m.group() if set(m.group()) <= {"3"} else roman_numeral(int(m.group())), text)
    allowed = set(TUTORIAL_ALPHABET)
    return "".join(c for c in text if c in allowed)


def read_utf8(path: str) -> str:
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError as why:
        raise DataError(f"{path}: not UTF-8 text (byte {why.start}: {why.reason}); convert it with "
                        f"iconv -t UTF-8") from why
    except (OSError, tf.errors.OpError) as why:
        raise DataError(f"{path}: unreadable ({why})") from why


def raw_path(path: str, source: Optional[str] = None, alphabet: str = "own") -> RawFiles:
    """A .txt file or a directory of them as the ExampleGen's input. alphabet: 'own' (line debris cleaned, the
    text's characters), 'mapped' (onto TUTORIAL_ALPHABET, the text's characters) or 'tutorial' (mapped, and
    TUTORIAL_ALPHABET declared as the vocabulary)."""
    import tensorflow as tf

    base, pattern = (path, "*.txt") if tf.io.gfile.isdir(path) else (os.path.dirname(path) or ".",
                                                                    os.path.basename(path))
    raw = RawFiles(base, {"train": pattern, "eval": pattern}, source or path, {"alphabet": alphabet})
    files = raw.files("train")
    if not files:
        raise DataError(f"{path}: no .txt files; give a UTF-8 text file or a directory of them")
    return raw if source else dataclasses.replace(raw, source=f"{len(files)} file(s) under {path}")


def read_raw(raw: RawFiles) -> TextCorpus:
    """The corpus: the files in name order, concatenated, cleaned or mapped as raw.options['alphabet'] says."""
    text = "".join(read_utf8(path) for path in raw.files("train"))
    alphabet = raw.options.get("alphabet", "own")
    return TextCorpus(text=clean_line_debris(text) if alphabet == "own" else to_tutorial_alphabet(text),
                      source=raw.source, alphabet=TUTORIAL_ALPHABET if alphabet == "tutorial" else None)


def load_path(path: str) -> TextCorpus:
    return read_raw(raw_path(path))


def source_list(data_dir: Optional[str] = None) -> list:
    def from_user() -> RawFiles:
        if not data_dir:
            raise sources.SourceUnavailable("no --data-dir given")
        return raw_path(data_dir)

    return [sources.Source("data-dir", from_user)]


class TextReader:
    """A text corpus, windowed as one sequence (one work item per split): every 10th window of SEQUENCE_LENGTH + 1
    characters is eval; ids index the vocabulary (the declared alphabet, or the text's own characters)."""

    def __init__(self, raw: RawFiles, options: dict):
        self.raw = raw
        corpus = read_raw(raw)
        corpus.validate(2 * (SEQUENCE_LENGTH + 1))
        self.vocabulary = corpus.vocabulary()
        self.window = SEQUENCE_LENGTH + 1

    def facts(self) -> dict:
        return {"format": "text", "sequence_length": SEQUENCE_LENGTH, "vocabulary": self.vocabulary,
                "source": self.raw.source, "features": {"ids": "int64"}}

    def units(self, split: str) -> list:
        return [split]

    def read(self, unit) -> Iterator[readers.Record]:
        text = read_raw(self.raw).text
        index = {char: i for i, char in enumerate(self.vocabulary)}
        for number, start in enumerate(range(0, len(text) - self.window + 1, self.window)):
            if ("eval" if number % EVAL_EVERY == EVAL_EVERY - 1 else "train") == unit:
                yield readers.Record((number,), 0, readers.example(ids=[index[c] for c in text[start:start + self.window]]))


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, read_raw, TextReader)
raw = DATASET.raw
load = DATASET.load
