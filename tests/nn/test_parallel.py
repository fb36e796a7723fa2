"""Batches shared with helper processes (cnnviz.nn.parallel) give the one-process results.

Every check compares a ProcessPool's answer with the same computation done in this process
alone; the two may differ only by float32 rounding (the gradients are summed in another order).
Helpers that die, hang or fail must cost speed, never a step.
"""

from __future__ import annotations

import ast
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import PRESETS, get_preset, parallel
from cnnviz.nn.parallel import ProcessPool, default_processes, local_pass
from cnnviz.training import Trainer, TrainSettings, evaluate


@pytest.fixture(scope="module")
def batch():
    data = load_bundled_mnist()
    return normalize_images(data.train.images[:300]), data.train.labels[:300].astype(np.int64)


@pytest.fixture
def pool():
    with ProcessPool(2) as shared:
        yield shared


def assert_float32_equal(actual, expected, what=""):
    """Equal up to float32 rounding of sums in another order (relative to the array's scale)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    scale = float(np.abs(expected).max(initial=0.0)) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-6 * scale, err_msg=what)


def one_process_pass(model, loss, x, targets):
    cost = local_pass(model, loss, x, targets)
    return cost, {name: grad.copy() for name, grad in model.named_gradients()}


def assert_same_pass(pool, model, loss, x, targets):
    expected_cost, expected = one_process_pass(model, loss, x, targets)
    cost = pool.train_pass(model, loss, x, targets)
    assert cost == pytest.approx(expected_cost, rel=1e-5)
    for name, grad in model.named_gradients():
        assert_float32_equal(grad, expected[name], name)


@pytest.mark.parametrize("processes, size", [(2, 32), (2, 37), (3, 128), (2, 16)])
def test_gradients_and_cost_equal_one_process(batch, processes, size):
    x, labels = batch
    model, loss = PRESETS["reference"].create(seed=3), PRESETS["reference"].make_loss()
    with ProcessPool(processes) as pool:
        assert_same_pass(pool, model, loss, x[:size], labels[:size])
        assert pool.active == min(processes, size // parallel.MIN_SHARE)


def test_outputs_equal_one_process(pool, batch):
    x, _ = batch
    model = PRESETS["reference"].create(seed=4)
    assert_float32_equal(pool.forward(model, x[:256]), model.forward(x[:256]), "logits")
    assert pool.active == 2


def test_small_batches_and_float64_stay_in_this_process(pool, batch):
    x, labels = batch
    model, loss = PRESETS["reference"].create(seed=5), PRESETS["reference"].make_loss()
    assert_same_pass(pool, model, loss, x[:9], labels[:9])          # under two shares of 8
    logits = pool.forward(model, x[:64].astype(np.float64))    # float64 input: the plain path
    assert logits.dtype == np.float64
    assert pool.active == 1, "no helper should have started"


def test_helpers_follow_a_new_architecture_loss_and_batch_size(pool, batch):
    """The tutorial network (sigmoid, squared error, float targets) after the reference one."""
    x, labels = batch
    reference = PRESETS["reference"]
    assert_same_pass(pool, reference.create(seed=1), reference.make_loss(), x[:32], labels[:32])
    tutorial = get_preset("tutorial")
    targets = tutorial.make_targets(labels)
    assert targets.dtype == np.float32 and targets.ndim == 2
    assert_same_pass(pool, tutorial.create(seed=1), tutorial.make_loss(), x[:64], targets[:64])
    big = np.concatenate([x] * 4)[:1100]                              # beyond the first block
    assert_same_pass(pool, reference.create(seed=2), reference.make_loss(), big,
                     np.concatenate([labels] * 4)[:1100])


def test_trainer_with_pool_follows_the_one_process_run():
    data = load_bundled_mnist()
    preset, settings = get_preset("reference"), TrainSettings(seed=7, train_limit=640)
    alone = Trainer.from_settings(settings, preset, data.train)
    with ProcessPool(2) as pool:
        shared = Trainer.from_settings(settings, preset, data.train, pool=pool)
        costs = [(alone.step().cost, shared.step().cost) for _ in range(10)]
        assert pool.active == 2
    for one, two in costs:
        assert two == pytest.approx(one, rel=1e-3)
    for name, value in shared.model.named_parameters():
        np.testing.assert_allclose(value, alone.model.state_dict()[name], rtol=1e-3, atol=1e-5,
                                   err_msg=name)


def test_evaluate_with_pool_equals_one_process(pool):
    data = load_bundled_mnist()
    model, preset = PRESETS["reference"].create(seed=8), get_preset("reference")
    alone = evaluate(model, preset, data.test, limit=600)
    shared = evaluate(model, preset, data.test, limit=600, pool=pool)
    np.testing.assert_array_equal(shared.predictions, alone.predictions)
    assert shared.cost == pytest.approx(alone.cost, rel=1e-5)


# --- helpers that fail ---------------------------------------------------------------------------

def _helper(pool):
    return pool._resources.helpers[0].process


def test_a_killed_helper_costs_speed_not_a_step(pool, batch, caplog):
    x, labels = batch
    model, loss = PRESETS["reference"].create(seed=9), PRESETS["reference"].make_loss()
    pool.train_pass(model, loss, x[:32], labels[:32])
    helper = _helper(pool)
    os.kill(helper.pid, signal.SIGKILL)
    helper.join(5)
    with caplog.at_level(logging.WARNING, logger="cnnviz.nn.parallel"):
        assert_same_pass(pool, model, loss, x[32:64], labels[32:64])
    assert pool.failure
    assert "one process" in caplog.text
    assert pool.active == 1
    assert_same_pass(pool, model, loss, x[64:96], labels[64:96])      # and it goes on


def test_a_hung_helper_is_given_up_after_the_timeout(pool, batch):
    x, _ = batch
    model = PRESETS["reference"].create(seed=10)
    pool.forward(model, x[:64])
    helper = _helper(pool)
    os.kill(helper.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert_float32_equal(pool.forward(model, x[:64]), model.forward(x[:64]), "logits")
        assert time.monotonic() - started < 6
        assert "did not answer" in pool.failure
    finally:
        if helper.is_alive():
            os.kill(helper.pid, signal.SIGCONT)
    helper.join(5)
    assert not helper.is_alive(), "a hung helper must be stopped"


def record_waits(waits):
    return lambda seconds, why: waits.append((seconds, why))


def broken_display(seconds, why):
    raise RuntimeError("the status bar is gone")


@pytest.mark.parametrize("on_waiting", [record_waits, lambda waits: broken_display],
                         ids=["recorded", "raising"])
def test_a_stopped_helper_mid_training_is_given_up_within_seconds(on_waiting, caplog):
    """SIGSTOP: alive but silent. The step gives up after ~MIN_STEP_TIMEOUT, says so while it
    waits, computes the share here — the same step as in one process — and training goes on."""
    data = load_bundled_mnist()
    preset, settings = get_preset("reference"), TrainSettings(seed=7, train_limit=640)
    alone = Trainer.from_settings(settings, preset, data.train)
    waits: list[tuple[float, str]] = []
    with ProcessPool(2) as pool:
        shared = Trainer.from_settings(settings, preset, data.train, pool=pool)
        for _ in range(5):
            assert shared.step().cost == pytest.approx(alone.step().cost, rel=1e-3)
        helper = _helper(pool)
        pool.on_waiting = on_waiting(waits)
        os.kill(helper.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            cost = shared.step().cost
            elapsed = time.monotonic() - started
        finally:
            if helper.is_alive():
                os.kill(helper.pid, signal.SIGCONT)
        assert parallel.MIN_STEP_TIMEOUT <= elapsed < 6, elapsed
        assert "did not answer" in pool.failure and helper.name in pool.failure
        assert pool.active == 1
        assert cost == pytest.approx(alone.step().cost, rel=1e-3)
        for _ in range(3):                                        # and it goes on, alone
            assert shared.step().cost == pytest.approx(alone.step().cost, rel=1e-3)
        helper.join(5)
        assert not helper.is_alive(), "the stopped helper must be killed"
    for name, value in shared.model.named_parameters():
        assert np.isfinite(value).all(), name
        np.testing.assert_allclose(value, alone.model.state_dict()[name], rtol=1e-3, atol=1e-5,
                                   err_msg=name)
    assert not _alive(helper.pid)
    if on_waiting is record_waits:
        seconds = [wait for wait, _ in waits]
        assert seconds and seconds[0] >= parallel.WAIT_REPORT_AFTER
        assert seconds == sorted(seconds) and seconds[-1] < elapsed
        assert len(seconds) >= (parallel.MIN_STEP_TIMEOUT - parallel.WAIT_REPORT_AFTER) / (
            2 * parallel.WAIT_REPORT_EVERY)                       # roughly every 0.25 s
        assert all(helper.name in why for _, why in waits)
    else:
        assert "on_waiting callback" in caplog.text


def test_a_slow_start_is_reported_while_it_lasts(batch, monkeypatch):
    """Spawning a helper (a fresh interpreter importing NumPy) takes longer than one poll:
    with reports from the first poll on, the wait for it is heard about, and nothing fails."""
    x, _ = batch
    monkeypatch.setattr(parallel, "WAIT_REPORT_AFTER", 0.0)
    waits: list[tuple[float, str]] = []
    with ProcessPool(2, on_waiting=record_waits(waits)) as pool:
        model = PRESETS["reference"].create(seed=14)
        assert_float32_equal(pool.forward(model, x[:64]), model.forward(x[:64]), "logits")
        assert pool.failure is None and pool.active == 2
    assert waits and all("cnnviz-helper-1 starting up" in why for _, why in waits[:1])
    assert all(0 < seconds < parallel.START_TIMEOUT for seconds, _ in waits)


def test_share_times_make_the_adaptive_timeout():
    times = parallel._ShareTimes()
    assert times.timeout("train", 16) == parallel.START_TIMEOUT     # first use: start-up
    for seconds in (0.010, 0.012, 0.011, 5.0):                      # one outlier: the median
        times.record("train", 16, seconds)
    assert times.timeout("train", 16) == parallel.MIN_STEP_TIMEOUT
    assert times.timeout("forward", 16) == parallel.START_TIMEOUT   # its own history
    for _ in range(parallel.RECENT_SHARES):                         # slower work: longer wait
        times.record("train", 10, 1.0)
    assert times.timeout("train", 10) == pytest.approx(parallel.SLOWDOWN * 1.0)
    assert times.timeout("train", 20) == pytest.approx(parallel.SLOWDOWN * 2.0)
    times.clear()
    assert times.timeout("train", 10) == parallel.START_TIMEOUT


def test_an_error_in_a_helper_is_reported_and_the_share_computed_here(pool, batch):
    x, labels = batch
    model, loss = PRESETS["reference"].create(seed=11), PRESETS["reference"].make_loss()
    pool.train_pass(model, loss, x[:32], labels[:32])
    bad = labels.copy()
    bad[20] = 10                      # no such class: the helper's share raises IndexError
    with pytest.raises(IndexError):   # ... and so does this process on the same share
        pool.train_pass(model, loss, x[:32], bad[:32])
    assert pool.failure and "IndexError" in pool.failure


# --- lifetime -----------------------------------------------------------------------------------

def test_close_stops_helpers_and_frees_the_shared_block(batch):
    x, _ = batch
    pool = ProcessPool(2)
    pool.forward(PRESETS["reference"].create(seed=12), x[:64])
    helper, name = _helper(pool), pool._resources.block.name
    pool.close()
    assert not helper.is_alive()
    with pytest.raises(FileNotFoundError):
        SharedMemory(name)
    model = PRESETS["reference"].create(seed=12)
    assert_float32_equal(pool.forward(model, x[:64]), model.forward(x[:64]))   # alone now


def test_helpers_end_when_the_main_process_dies(tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        from cnnviz.nn import PRESETS
        from cnnviz.nn.parallel import ProcessPool
        if __name__ == "__main__":
            pool = ProcessPool(2)
            pool.forward(PRESETS["reference"].create(0), np.zeros((64, 1, 28, 28), np.float32))
            print(pool._resources.helpers[0].process.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    path = tmp_path / "dies.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                         timeout=60)
    helper_pid = int(run.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(helper_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(helper_pid), "the helper outlived its main process"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_default_processes_one_per_core_or_the_environment(monkeypatch):
    monkeypatch.delenv("CNNVIZ_PROCESSES", raising=False)
    assert default_processes() == max(1, min(os.cpu_count() or 1, parallel.MAX_PROCESSES))
    monkeypatch.setenv("CNNVIZ_PROCESSES", "3")
    assert default_processes() == 3
    monkeypatch.setenv("CNNVIZ_PROCESSES", "0")
    assert default_processes() == 1
    monkeypatch.setenv("CNNVIZ_PROCESSES", "many")
    assert default_processes() == max(1, min(os.cpu_count() or 1, parallel.MAX_PROCESSES))


def test_importing_the_engine_limits_blas_to_one_thread():
    """Before NumPy was imported, the limit once silently missed OpenBLAS (2 threads, which
    made every step ~10× slower beside a helper process)."""
    code = ("import cnnviz.nn\nfrom threadpoolctl import threadpool_info\n"
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_NUM_THREADS": ""}
    env.pop("OPENBLAS_NUM_THREADS")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=True).stdout
    counts = ast.literal_eval(out)
    assert counts and all(count == 1 for count in counts), out


def test_no_helper_processes_at_all_still_trains(batch, monkeypatch, caplog):
    """Where processes cannot be started (limits, no /dev/shm), batches run here alone."""
    x, labels = batch
    model, loss = PRESETS["reference"].create(seed=13), PRESETS["reference"].make_loss()

    def refuse(self):
        raise OSError("Resource temporarily unavailable")
    monkeypatch.setattr(parallel.multiprocessing.get_context("spawn").Process, "start", refuse)
    with ProcessPool(2) as pool, caplog.at_level(logging.WARNING, logger="cnnviz.nn.parallel"):
        assert_same_pass(pool, model, loss, x[:32], labels[:32])
        assert "could not start" in pool.failure and pool.active == 1
        assert "Resource temporarily unavailable" in caplog.text
