"""nb201.util: the helpers several layers share (checksums, stamps, JSON, safe unpickling)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from nb201.util import hash_files, json_default, load_plain_pickle, sha256_file, utc_stamp


def test_file_hashes_are_of_the_content_in_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * (5 << 20))  # more than one read chunk
    b.write_bytes(b"yz")
    assert sha256_file(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert hash_files([a, b]) == hashlib.sha256(a.read_bytes() + b"yz").hexdigest() != hash_files([b, a])
    assert hash_files([b], "md5") == hashlib.md5(b"yz").hexdigest()


def test_utc_stamp_format():
    when = dt.datetime(2026, 11, 28, 11, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert utc_stamp(when) == "2026-11-28T10:00:00Z"
    now = dt.datetime.strptime(utc_stamp(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((now - dt.datetime.now(dt.UTC)).total_seconds()) < 5


def test_json_default_writes_numpy_and_paths_and_refuses_the_rest():
    obj = {"a": np.float32(1.5), "b": np.arange(3), "c": np.int64(7), "d": Path("x/y"), "e": np.bool_(True)}
    assert json.loads(json.dumps(obj, default=json_default)) == {
        "a": 1.5,
        "b": [0, 1, 2],
        "c": 7,
        "d": "x/y",
        "e": True,
    }
    with pytest.raises(TypeError, match="object"):
        json.dumps({"x": object()}, default=json_default)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_plain_data_round_trips(protocol):
    data = {
        "data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "labels": [1, 2, 3],
        "names": (b"cat", "dog"),
        "scalar": np.float64(0.5),
        "nested": OrderedDict(x={1.5, 2.5}, y=frozenset({3}), z=1j),
    }
    back = load_plain_pickle(io.BytesIO(pickle.dumps(data, protocol=protocol)))
    np.testing.assert_array_equal(back["data"], data["data"])
    assert {k: v for k, v in back.items() if k != "data"} == {k: v for k, v in data.items() if k != "data"}


def test_anything_else_is_refused_before_it_runs():
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    with pytest.raises(pickle.UnpicklingError, match=r"^refusing to load (posix|os)\.system"):
        load_plain_pickle(io.BytesIO(pickle.dumps(Boom())))
