"""Errors a user can act on: the CLI prints them as one line and exits with a documented code."""
import errno
import os
import tempfile


class DlqosError(Exception):
    """Base class: a problem the user can fix (bad input, bad configuration, missing device)."""

    exit_code = 2


class DataError(DlqosError):
    """Missing, corrupt or mismatched input data; the message names the file and the fix."""


class ConfigError(DlqosError):
    """An impossible configuration (unknown step, profile, strategy, bad flag value)."""


WRITE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def writable_directory(path: str, what: str) -> str:
    """Create `path` if needed and prove it writable before any work starts: under a read-only root filesystem
    (the Kubernetes Job's) the problem is then one line naming the directory, not a traceback minutes later."""
    if "://" in path:
        raise ConfigError(f"the {what} {path} is not a local directory: a local run keeps its SQLite ML Metadata "
                          "store there; for a bucket, compile the pipeline for Kubeflow (dlqos compile --root)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"the {what} {path} is a file, not a directory: choose another directory")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ConfigError(f"the {what} {path} is not writable ({error.strerror}, uid {os.getuid()}): "
                          "mount a writable volume there or choose another directory") from None
    return path


def unwritable_path_error(error: OSError) -> "ConfigError | None":
    """The one-line error for a write refused by the filesystem (read-only mount, permissions), else None."""
    if error.errno not in WRITE_ERRNOS or not error.filename:
        return None
    return ConfigError(f"cannot write {error.filename}: {error.strerror} (uid {os.getuid()}); mount a writable "
                       "volume there, or point DLQOS_DATA_CACHE / --output-dir / TMPDIR at one")


def read_text_file(path: str, flag: str) -> str:
    """The text of a file a flag names; a missing or unreadable one is one line naming the flag and the file, exit 2,
    rather than a traceback from deep inside the pipeline."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{flag} {path}: not a text file ({error.reason} at byte {error.start})") from None
