"""Multi-process pool: equal to single-process encode in input order, never hangs, names dead workers.

Every pool here is started with ``timeout=`` (a worker that neither answers nor dies within it
raises), and every subprocess runs under a hard ``communicate`` timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sentkit import SentenceTransformer
from sentkit.errors import InputError, InputTypeError, UnencodableTextError
from sentkit.inference import pool_runner
from sentkit.inference.pool import (
    MultiProcessPool,
    WorkerError,
    encode_with_pool,
    start_multi_process_pool,
    stop_multi_process_pool,
)
from sentkit.inference.precision import quantize_embeddings
from sentkit.inference.streaming import encode_to_disk
from tests.reference import TEXTS

WORKER_TIMEOUT = 240.0  # seconds a worker may take to load or to answer one chunk
SUBPROCESS_TIMEOUT = 300.0
CORPUS = [f"sentence number {i} about item {i % 13}. " * (1 + i % 9) for i in range(90)] + TEXTS


class _Pools:
    """One running two-worker pool for the module, restarted if a test stopped it."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.pool: MultiProcessPool | None = None

    def get(self) -> MultiProcessPool:
        if self.pool is None or self.pool.closed:
            self.pool = start_multi_process_pool(self.model, ["cpu", "cpu"], timeout=WORKER_TIMEOUT)
        return self.pool


@pytest.fixture(scope="module")
def tiny_model(hf_checkpoints: dict[str, Path]) -> SentenceTransformer:
    return SentenceTransformer(str(hf_checkpoints["bert"]), device="cpu")


@pytest.fixture(scope="module")
def pools(tiny_model: SentenceTransformer):
    holder = _Pools(tiny_model)
    yield holder
    if holder.pool is not None:
        holder.pool.stop()


@pytest.fixture
def pool(pools: _Pools) -> MultiProcessPool:
    return pools.get()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_pool_equals_single_process_in_input_order(tiny_model: SentenceTransformer, pool: MultiProcessPool) -> None:
    single = tiny_model.encode(CORPUS)
    for chunk_size in (None, 1, 7, 1000):
        pooled = encode_with_pool(tiny_model, CORPUS, pool, chunk_size=chunk_size)
        assert pooled.shape == single.shape
        assert pooled.dtype == np.float32
        np.testing.assert_allclose(pooled, single, atol=1e-5, rtol=0)
    reversed_texts = CORPUS[::-1]
    np.testing.assert_allclose(encode_with_pool(tiny_model, reversed_texts, pool), single[::-1], atol=1e-5, rtol=0)


def test_pool_takes_every_encode_option(tiny_model: SentenceTransformer, pool: MultiProcessPool) -> None:
    options = {"normalize_embeddings": True, "truncate_dim": 8, "prompt": "query: ", "batch_size": 5}
    np.testing.assert_allclose(
        encode_with_pool(tiny_model, CORPUS, pool, **options), tiny_model.encode(CORPUS, **options), atol=1e-5
    )
    tensor = encode_with_pool(tiny_model, CORPUS, pool, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor)
    assert tensor.shape == (len(CORPUS), 32)
    as_list = encode_with_pool(tiny_model, CORPUS[:5], pool, convert_to_numpy=False)
    assert isinstance(as_list, list)
    assert len(as_list) == 5
    assert as_list[0].shape == (32,)
    one = encode_with_pool(tiny_model, CORPUS[3], pool)
    np.testing.assert_allclose(one, tiny_model.encode(CORPUS[3]), atol=1e-5)
    empty = encode_with_pool(tiny_model, [], pool)
    assert empty.shape == tiny_model.encode([]).shape
    from_array = encode_with_pool(tiny_model, np.array(CORPUS[:9]), pool, chunk_size=2)
    np.testing.assert_allclose(from_array, tiny_model.encode(CORPUS[:9]), atol=1e-5)
    tokens = encode_with_pool(tiny_model, CORPUS[:6], pool, output_value="token_embeddings", chunk_size=2)
    for pooled_tokens, single_tokens in zip(
        tokens, tiny_model.encode(CORPUS[:6], output_value="token_embeddings"), strict=True
    ):
        assert pooled_tokens.shape == single_tokens.shape
        assert torch.allclose(pooled_tokens, single_tokens, atol=1e-5)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_pool_quantizes_over_the_whole_input(
    tiny_model: SentenceTransformer, pool: MultiProcessPool, precision: str
) -> None:
    # Ranges from all rows, as single-process encode: chunks of 3 rows would give other buckets.
    pooled = encode_with_pool(tiny_model, CORPUS, pool, precision=precision, chunk_size=3)
    expected = quantize_embeddings(tiny_model.encode(CORPUS), precision)
    assert pooled.dtype == expected.dtype
    assert pooled.shape == expected.shape
    if precision.endswith("binary"):
        differing_bits = np.unpackbits(pooled.view(np.uint8) ^ expected.view(np.uint8)).sum()
        assert differing_bits <= 2  # a sign can flip only for values within float rounding of 0
    else:
        assert np.abs(pooled.astype(int) - expected.astype(int)).max() <= 1  # rounding at a bucket edge
        assert (pooled == expected).mean() > 0.99


def test_pool_errors_match_encode_and_keep_the_pool(tiny_model: SentenceTransformer, pool: MultiProcessPool) -> None:
    texts = ["fine"] * 10
    texts[7] = "broken \ud800 text"
    with pytest.raises(UnencodableTextError) as raised:
        encode_with_pool(tiny_model, texts, pool, chunk_size=3)
    assert raised.value.index == 7  # the index in the whole input, not in its chunk
    with pytest.raises(InputTypeError, match="index 2"):
        encode_with_pool(tiny_model, ["a", "b", None], pool)
    with pytest.raises(InputError, match="chunk_size"):
        encode_with_pool(tiny_model, texts, pool, chunk_size=0)
    with pytest.raises(InputError, match="unexpected keyword"):
        encode_with_pool(tiny_model, ["a"], pool, no_such_option=1)
    with pytest.raises(InputError, match="precision"):
        encode_with_pool(tiny_model, ["a"], pool, precision="float8")
    other = SentenceTransformer(tiny_model.model_name_or_path, device="cpu")
    with pytest.raises(InputError, match="another model"):
        encode_with_pool(other, ["a"], pool)
    with pytest.raises(InputTypeError):
        stop_multi_process_pool({"processes": []})  # type: ignore[arg-type]
    assert not pool.closed  # errors in a chunk leave the workers usable
    np.testing.assert_allclose(
        encode_with_pool(tiny_model, CORPUS[:20], pool), tiny_model.encode(CORPUS[:20]), atol=1e-5
    )


def test_an_interrupted_call_does_not_leak_into_the_next(
    tiny_model: SentenceTransformer, pool: MultiProcessPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    class InterruptedProgress:  # Ctrl+C after the first chunk comes back, other chunks still out
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> InterruptedProgress:
            return self

        def __exit__(self, *exc_info: object) -> None:
            return None

        def update(self, count: int = 1) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(pool_runner, "tqdm", InterruptedProgress)
    with pytest.raises(KeyboardInterrupt):
        encode_with_pool(tiny_model, CORPUS, pool, chunk_size=5)
    monkeypatch.undo()
    texts = CORPUS[::-1]  # late answers of the interrupted call must not land in this one
    np.testing.assert_allclose(
        encode_with_pool(tiny_model, texts, pool, chunk_size=5), tiny_model.encode(texts), atol=1e-5
    )
    assert not pool.closed


def test_pool_exposes_its_processes(pool: MultiProcessPool) -> None:
    assert len(pool) == 2
    assert pool.target_devices == ["cpu", "cpu"]
    assert [process.name for process in pool["processes"]] == ["sentkit-pool-worker-0", "sentkit-pool-worker-1"]
    assert all(process.is_alive() for process in pool.processes)
    assert Path(pool.model_folder, "modules.json").is_file()  # workers load a saved copy of the model
    with pytest.raises(KeyError):
        pool["input"]


def test_encode_to_disk_with_a_pool(tiny_model: SentenceTransformer, pool: MultiProcessPool, tmp_path: Path) -> None:
    reader = encode_to_disk(tiny_model, iter(CORPUS), tmp_path, shard_size=40, pool=pool)
    assert list(reader.texts) == CORPUS
    np.testing.assert_allclose(np.asarray(reader), tiny_model.encode(CORPUS), atol=1e-5, rtol=0)


def test_killed_worker_raises_an_error_naming_it_and_the_pool_is_cleaned_up(
    tiny_model: SentenceTransformer, pools: _Pools
) -> None:
    pool = pools.get()
    victim = pool.workers[0]
    pids = [worker.pid for worker in pool.workers]
    folder = pool.model_folder

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if victim.busy is not None and victim.busy[0] > 0:  # working on a chunk of the call below
                os.kill(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.0005)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    texts = [f"text {i} " * (1 + i % 30) for i in range(4000)]
    with pytest.raises(WorkerError) as raised:
        encode_with_pool(tiny_model, texts, pool, chunk_size=10)
    killer.join(timeout=5)
    message = str(raised.value)
    assert "sentkit-pool-worker-0" in message
    assert f"pid {victim.pid}" in message
    assert "SIGKILL" in message
    assert pool.closed
    assert all(_gone(pid) for pid in pids)  # the surviving worker was stopped and reaped too
    assert not Path(folder).exists()
    stop_multi_process_pool(pool)  # stopping again is harmless
    with pytest.raises(WorkerError, match="stopped"):
        encode_with_pool(tiny_model, ["a"], pool)


POOL_SCRIPT = """
import os, sys
import numpy as np
from sentkit import SentenceTransformer
from sentkit.inference.pool import encode_with_pool, start_multi_process_pool

print("MAIN RAN", flush=True)
{define_model}
texts = [f"text number {{i}} " * (1 + i % 9) for i in range(60)] + {extra_texts}
with start_multi_process_pool(model, ["cpu"], timeout=240) as pool:
    pids = [worker.pid for worker in pool.workers]
    pooled = encode_with_pool(model, texts, pool)
print("SHAPE", *pooled.shape)
print("MAXDIFF", float(np.abs(pooled - model.encode(texts)).max()))
alive = []
for pid in pids:
    try:
        os.kill(pid, 0)
        alive.append(pid)
    except ProcessLookupError:
        pass
print("ALIVE", alive)
"""


@pytest.fixture(scope="module")
def fresh_interpreters(hf_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run the pool from (a) a script without a __main__ guard (tiny BERT), (b) stdin with a model
    class defined in __main__, as in a notebook (the real all-MiniLM-L6-v2, so that its pooled
    embeddings are compared with single-process ones too); both at once, under a hard timeout."""
    folder = str(hf_checkpoints["bert"])
    scripts = tmp_path_factory.mktemp("scripts")
    script = scripts / "unguarded.py"
    tiny_model = 'model = SentenceTransformer(sys.argv[1], device="cpu")'
    script.write_text(POOL_SCRIPT.format(define_model=tiny_model, extra_texts="[]"))
    notebook = scripts / "notebook_cells.py"
    notebook_model = "class NotebookModel(SentenceTransformer):\n    pass\n"
    notebook_model += 'model = NotebookModel("all-MiniLM-L6-v2", device="cpu")'
    notebook.write_text(POOL_SCRIPT.format(define_model=notebook_model, extra_texts=repr(TEXTS)))
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "start_new_session": True}
    with notebook.open() as cells:  # read as stdin: __main__ has no file, as in a notebook
        runs = {
            "script": subprocess.Popen([sys.executable, str(script), folder], **options),  # type: ignore[call-overload]
            "stdin": subprocess.Popen([sys.executable, "-"], stdin=cells, **options),  # type: ignore[call-overload]
        }
    outputs = {}
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    for name, process in runs.items():
        try:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in runs.values():
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            pytest.fail(f"the {name} run hung for {SUBPROCESS_TIMEOUT} s")
        assert process.returncode == 0, f"{name} run failed:\n{stderr[-3000:]}"
        outputs[name] = stdout
    return outputs


@pytest.mark.parametrize("run", ["script", "stdin"])
def test_pool_from_a_fresh_interpreter_never_reruns_main(fresh_interpreters: dict[str, str], run: str) -> None:
    lines = fresh_interpreters[run].splitlines()
    assert lines.count("MAIN RAN") == 1  # the workers did not re-execute __main__
    expected_shape = {"script": "SHAPE 60 32", "stdin": f"SHAPE {60 + len(TEXTS)} 384"}[run]  # tiny / real model
    assert expected_shape in lines
    max_diff = float(next(line for line in lines if line.startswith("MAXDIFF")).split()[1])
    assert max_diff < 1e-5
    assert "ALIVE []" in lines  # leaving the with-block ended the worker


def test_model_methods_delegate_to_the_pool(hf_checkpoints) -> None:
    """The sentence-transformers method names: start/stop, encode(pool=), encode_multi_process, with-form."""
    model = SentenceTransformer(hf_checkpoints["bert"], device="cpu")
    texts = [f"sentence number {i} about the weather" for i in range(23)]
    expected = model.encode(texts)
    pool = model.start_multi_process_pool(["cpu", "cpu"])
    try:
        assert np.allclose(model.encode(texts, pool=pool, chunk_size=5), expected, atol=1e-5)
        with pytest.warns(DeprecationWarning, match="encode_multi_process is deprecated"):
            old_style = model.encode_multi_process(texts, pool)
        assert np.allclose(old_style, expected, atol=1e-5)
    finally:
        model.stop_multi_process_pool(pool)
    with model.multi_process_pool(["cpu"]) as pool:
        assert np.allclose(model.encode(texts[:3], pool=pool), expected[:3], atol=1e-5)


def test_pool_reports_contentless_inputs_once(tiny_model: SentenceTransformer, pool: MultiProcessPool) -> None:
    import warnings

    from sentkit.errors import ContentlessInputWarning, InputError

    texts = [*CORPUS[:6], "", " \u200b"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pooled = encode_with_pool(tiny_model, texts, pool, chunk_size=2)
    reports = [w for w in caught if issubclass(w.category, ContentlessInputWarning)]
    assert len(reports) == 1  # from this process, not once per chunk
    assert "[6, 7]" in str(reports[0].message)
    assert reports[0].filename == __file__  # points at the caller, past sentkit's own frames
    np.testing.assert_allclose(pooled, tiny_model.encode(texts, empty="keep"), atol=1e-5)
    with pytest.raises(InputError, match=r"\[6, 7\]"):
        encode_with_pool(tiny_model, texts, pool, empty="error")
