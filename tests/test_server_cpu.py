"""api.testing's /proc readers, which the HTTP benchmark and the soak use to account for a
served load: every process below the master is found, and their CPU is summed."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.testing import ProcessCpu, server_cpu, server_pids

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")

# A parent that burns CPU, then starts a child that burns more: a master and its worker.
_TREE = """
import subprocess, sys, time
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
child = subprocess.Popen([sys.executable, "-c",
    "import time\\nend = time.process_time() + float(__import__('sys').argv[1])\\n"
    "while time.process_time() < end: pass\\nprint('done', flush=True)\\ntime.sleep(60)", sys.argv[1]],
    stdout=subprocess.PIPE)
print(child.pid, flush=True)
child.stdout.readline()
print("burnt", flush=True)
time.sleep(60)
"""


def test_the_cpu_of_a_grandchild_is_counted():
    parent = subprocess.Popen([sys.executable, "-c", _TREE, "0.4"], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "burnt"
        assert server_pids(parent.pid) == [parent.pid, child]
        spent, own = server_cpu(parent.pid), server_cpu(child)
        # the child burnt 0.4 s of CPU, the parent 0.2 s before it started the child
        assert own.user + own.system >= 0.35
        assert spent.user + spent.system >= own.user + own.system + 0.15
        time.sleep(0.1)
        assert sum(server_cpu(parent.pid) - spent) < 0.05  # both asleep now: nothing more
    finally:
        for pid in (child, parent.pid):
            if pid is not None:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        parent.wait()


def test_a_gone_process_counts_nothing():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert server_pids(gone.pid) == [gone.pid]  # asked for, though nothing is left to read
    assert server_cpu(gone.pid) == ProcessCpu(0.0, 0.0)
