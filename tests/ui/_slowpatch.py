import time, sys
from cnnviz.ui import worker as w
orig = w.TrainingWorker._run_command
def timed(self, name, command, on_result):
    t = time.perf_counter()
    orig(self, name, command, on_result)
    d = time.perf_counter() - t
    if d > 0.3:
        print(f"SLOW command {name}: {d:.2f}s", file=sys.stderr)
w.TrainingWorker._run_command = timed
orig_train = w.TrainingWorker._train_one
def timed_train(self):
    t = time.perf_counter(); orig_train(self); d = time.perf_counter() - t
    if d > 0.3: print(f"SLOW step: {d:.2f}s", file=sys.stderr)
w.TrainingWorker._train_one = timed_train
orig_snap = w.TrainingWorker._emit_snapshot
def timed_snap(self):
    t = time.perf_counter(); orig_snap(self); d = time.perf_counter() - t
    if d > 0.3: print(f"SLOW snapshot: {d:.2f}s", file=sys.stderr)
w.TrainingWorker._emit_snapshot = timed_snap
