"""sentkit.distributed: Ray Data actor pools and the picklable BatchEncoder (Dask recipe).

One local Ray cluster (``ray.init(num_cpus=2)``) serves the whole module. Every Ray run is checked
against single-process ``encode`` row for row (joined on the ids); fault injection comes from
test-only subclasses of BatchEncoder that raise in, or kill the process of, the batch holding a
chosen text, once (a marker file in tmp_path remembers it across actor restarts).

Ray's own ``DataContext()`` sets its deprecated fields (``use_push_based_shuffle``, ``use_polars``)
while being constructed and so warns about itself; DeprecationWarnings from that one module
(``ray.data.context``) are ignored below.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentkit import SentenceTransformer
from sentkit.distributed import BatchEncoder, encode_dataset
from sentkit.errors import ConfigurationError, InputError, InputTypeError, MissingDependencyError
from tests.reference import TEXTS
from tests.tiny_models import build, corpus_lines

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

ROWS = list(dict.fromkeys(corpus_lines()))[:150] + [text for text in TEXTS if text]
TRIGGER = ROWS[97]  # the batch holding this text fails once
HALF_CPU = 0.5  # two actors on the 2-CPU test cluster must leave CPUs for read and write tasks


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("bert", tmp_path_factory.mktemp("distributed") / "bert")


@pytest.fixture(scope="module")
def expected(tiny_model: Path) -> dict[int, np.ndarray]:
    """Single-process encode of ROWS, by row id."""
    assert len(set(ROWS)) == len(ROWS)  # texts identify rows in the fault-injection and text-file tests
    embeddings = SentenceTransformer(str(tiny_model), device="cpu").encode(ROWS)  # (N, D)
    return dict(enumerate(embeddings))


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        from ray.data import DataContext

        context = DataContext.get_current()
        context.execution_no_progress_timeout_s = 180  # a stuck pipeline fails the test, never hangs it
        context.enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()


def _frame(rows: list[str] = ROWS) -> Any:
    import pandas as pd

    return pd.DataFrame({"id": np.arange(len(rows), dtype=np.int64), "text": rows})


def _assert_complete(ids: list[Any], embeddings: list[np.ndarray], expected: dict[Any, np.ndarray]) -> None:
    """Every expected id exactly once, each with its single-process embedding."""
    assert len(ids) == len(set(ids)), "duplicated rows"
    assert set(ids) == set(expected), "missing or extra rows"
    for row_id, embedding in zip(ids, embeddings, strict=True):
        np.testing.assert_allclose(embedding, expected[row_id], atol=1e-5, rtol=0)


def _read_output(folder: Path) -> tuple[list[Any], list[np.ndarray]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(folder)
    assert pa.types.is_fixed_size_list(table.schema.field("embedding").type)
    assert table.schema.field("embedding").type.value_type == pa.float32()
    return table.column("id").to_pylist(), list(np.asarray(table.column("embedding").to_pylist(), np.float32))


class _FailOnce(BatchEncoder):
    """Raises in the batch holding ``trigger``, the first time only."""

    def __init__(self, model: str, *, marker: str, trigger: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.marker, self.trigger = marker, trigger

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.trigger in texts and not os.path.exists(self.marker):
            Path(self.marker).touch()
            raise RuntimeError("injected failure")
        return super().encode_texts(texts)


class _DieOnce(_FailOnce):
    """Kills its own process (SIGKILL) mid-batch in each batch holding one of the ``trigger`` texts
    (``|``-separated), the first time only (a marker file per text)."""

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        for number, trigger in enumerate(self.trigger.split("|")):
            marker = Path(f"{self.marker}-{number}")
            if trigger in texts and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return BatchEncoder.encode_texts(self, texts)


# --- BatchEncoder, no engine ------------------------------------------------------------------


def test_batch_encoder_formats_equal_encode(tiny_model: Path, expected: dict[int, np.ndarray]) -> None:
    import pyarrow as pa

    encoder = BatchEncoder(str(tiny_model), load_kwargs={"device": "cpu"})
    frame = _frame()
    out = encoder(frame)
    assert list(out.columns) == ["id", "embedding"]
    _assert_complete(out["id"].tolist(), list(out["embedding"]), expected)
    table = encoder(pa.Table.from_pandas(frame, preserve_index=False))
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    _assert_complete(table.column("id").to_pylist(), list(np.asarray(table.column("embedding").to_pylist())), expected)
    mapping = encoder({"id": frame["id"].to_numpy(), "text": frame["text"].to_numpy(dtype=object)})
    assert mapping["embedding"].shape == (len(ROWS), 32)
    _assert_complete(mapping["id"].tolist(), list(mapping["embedding"]), expected)


def test_batch_encoder_options_reach_encode(tiny_model: Path) -> None:
    model = SentenceTransformer(str(tiny_model), device="cpu")
    encoder = BatchEncoder(str(tiny_model), normalize_embeddings=True, precision="ubinary", batch_size=4)
    out = encoder(_frame(ROWS[:10]))
    want = model.encode(ROWS[:10], normalize_embeddings=True, precision="ubinary")  # (10, 4) uint8
    np.testing.assert_array_equal(np.stack(out["embedding"]), want)


def test_batch_encoder_pickles_without_its_model(tiny_model: Path) -> None:
    encoder = BatchEncoder(str(tiny_model), prompt="query: ")
    first = encoder(_frame(ROWS[:5]))  # loads the model in this process
    payload = pickle.dumps(encoder)
    assert len(payload) < 2_000  # the name and options, not the weights
    clone = pickle.loads(payload)
    assert clone._model is None
    np.testing.assert_allclose(np.stack(clone(_frame(ROWS[:5]))["embedding"]), np.stack(first["embedding"]), atol=1e-6)


def test_batch_encoder_retries_a_failing_batch(tmp_path: Path, tiny_model: Path, expected: dict) -> None:
    encoder = _FailOnce(str(tiny_model), marker=str(tmp_path / "failed"), trigger=ROWS[3])
    out = encoder(_frame(ROWS[:8]))
    assert (tmp_path / "failed").exists()
    _assert_complete(out["id"].tolist(), list(out["embedding"]), {i: expected[i] for i in range(8)})
    no_retry = _FailOnce(str(tiny_model), marker=str(tmp_path / "again"), trigger=ROWS[3], max_retries=0)
    with pytest.raises(RuntimeError, match="injected failure"):
        no_retry(_frame(ROWS[:8]))


def test_batch_encoder_bad_input(tiny_model: Path) -> None:
    encoder = BatchEncoder(str(tiny_model))
    with pytest.raises(InputError, match="no column 'text'"):
        encoder(_frame().rename(columns={"text": "body"}))
    frame = _frame(ROWS[:3])
    frame.loc[1, "text"] = None
    with pytest.raises(InputTypeError, match="row id 1"):
        encoder(frame)
    with pytest.raises(InputTypeError, match="DataFrame"):
        encoder(ROWS)
    with pytest.raises(InputError, match="int8"):
        BatchEncoder(str(tiny_model), precision="int8")
    with pytest.raises(InputError, match="convert_to_tensor"):
        BatchEncoder(str(tiny_model), convert_to_tensor=True)
    with pytest.raises(InputTypeError, match=r"model\.save"):
        BatchEncoder(SentenceTransformer(str(tiny_model)))  # type: ignore[arg-type]


def test_dask_recipe_equals_encode(tiny_model: Path, expected: dict[int, np.ndarray]) -> None:
    dd = pytest.importorskip("dask.dataframe")
    encoder = BatchEncoder(str(tiny_model), text_column="text", id_column="id")
    ddf = dd.from_pandas(_frame(), npartitions=3)
    embedded = ddf.map_partitions(encoder, meta={"id": ddf["id"].dtype, "embedding": object})
    result = embedded.compute(scheduler="threads", num_workers=2)  # Dask's default local scheduler
    assert list(result.index) == list(range(len(ROWS)))
    _assert_complete(result["id"].tolist(), list(result["embedding"]), expected)


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray.data", None)
    with pytest.raises(MissingDependencyError, match=r"sentkit\[distributed\]"):
        encode_dataset(["x.parquet"], str(tiny_model))


# --- Ray ---------------------------------------------------------------------------------------


def test_ray_dataset_equals_encode_after_a_failed_batch(
    ray_cluster: Any, tmp_path: Path, tiny_model: Path, expected: dict
) -> None:
    frame = _frame()
    dataset = ray_cluster.data.from_pandas([frame[start : start + 40] for start in range(0, len(frame), 40)])
    marker = tmp_path / "failed"
    encoder = _FailOnce(str(tiny_model), marker=str(marker), trigger=TRIGGER)  # raises once, in one batch
    encoded = encode_dataset(dataset, encoder, num_actors=2, num_cpus_per_actor=HALF_CPU, rows_per_batch=16)
    rows = encoded.take_all()
    assert marker.exists()  # the failure did happen, and the batch was encoded again
    assert all(sorted(row) == ["embedding", "id"] for row in rows)
    _assert_complete([row["id"] for row in rows], [np.asarray(row["embedding"]) for row in rows], expected)


def test_jsonl_files_give_rows(ray_cluster: Any, tmp_path: Path) -> None:
    from sentkit.distributed.sources import read_source

    rows = [{"id": i, "text": text, "lang": "en"} for i, text in enumerate(ROWS[:20])]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:12]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[12:]), encoding="utf-8")
    read = read_source(ray_cluster.data, [str(tmp_path)], None, "id", "text").take_all()  # a folder of .jsonl
    assert sorted((row["id"], row["text"]) for row in read) == [(row["id"], row["text"]) for row in rows]


def test_text_files_to_parquet(ray_cluster: Any, tmp_path: Path, tiny_model: Path, expected: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "corpus"
    folder.mkdir()
    halves = {"a.txt": ROWS[:80], "b.txt": ROWS[80:]}
    for name, lines in halves.items():  # a blank line, CRLF endings and no final newline in a.txt
        text = "\r\n".join([lines[0], "", *lines[1:]]) if name == "a.txt" else "\n".join(lines) + "\n"
        (folder / name).write_bytes(text.encode("utf-8"))
    want = {}
    for name, lines in halves.items():
        numbers = [1, *range(3, len(lines) + 2)] if name == "a.txt" else range(1, len(lines) + 1)
        for number, line in zip(numbers, lines, strict=True):
            want[f"{folder / name}:{number}"] = expected[ROWS.index(line)]
    out = tmp_path / "out"
    out.mkdir()  # a stale file from an earlier run, which overwrite=True must remove
    pq.write_table(pa.table({"id": ["stale"], "embedding": [[0.0] * 32]}), out / "stale.parquet")
    assert encode_dataset(folder, str(tiny_model), output=out, overwrite=True, rows_per_batch=32) is None
    ids, embeddings = _read_output(out)
    _assert_complete([row_id.removeprefix("file://") for row_id in ids], embeddings, want)


def test_killed_actor_is_restarted(ray_cluster: Any, tmp_path: Path, tiny_model: Path, expected: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(), preserve_index=False), source, row_group_size=40)
    marker = tmp_path / "killed"
    triggers = [ROWS[5], TRIGGER, ROWS[140]]  # early, middle and late batches: three kills in one run
    encoder = _DieOnce(str(tiny_model), marker=str(marker), trigger="|".join(triggers))
    encode_dataset(source, encoder, output=tmp_path / "out", num_actors=1, rows_per_batch=16)
    assert all(Path(f"{marker}-{number}").exists() for number in range(3))  # each kill happened
    _assert_complete(*_read_output(tmp_path / "out"), expected)  # restarted actors finished: each row once


def test_refusals(ray_cluster: Any, tmp_path: Path, tiny_model: Path) -> None:
    dataset = ray_cluster.data.from_pandas(_frame(ROWS[:4]))
    with pytest.raises(ConfigurationError, match="all 2 CPUs"):
        encode_dataset(dataset, str(tiny_model), num_actors=2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="overwrite=True"):
        encode_dataset(dataset, str(tiny_model), output=tmp_path / "out")
    with pytest.raises(InputError, match="is a file"):
        encode_dataset(dataset, str(tiny_model), output=tmp_path / "out" / "old.parquet")
    with pytest.raises(InputError, match="num_actors"):
        encode_dataset(dataset, str(tiny_model), num_actors=0)
    with pytest.raises(InputError, match="input format"):
        encode_dataset([tmp_path / "out" / "old.parquet", tmp_path / "x.txt"], str(tiny_model))
    with pytest.raises(InputError, match="no column 'body'"):
        encode_dataset(dataset, str(tiny_model), text_column="body")
    with pytest.raises(InputError, match="set them on the BatchEncoder"):
        encode_dataset(dataset, BatchEncoder(str(tiny_model)), normalize_embeddings=True)
