"""The python3.12 runtime's start, for ``python -I -S bootstrap.py <handler>`` under the emulator.

``-I -S`` leave ``sys.path`` with the standard library alone: no
``PYTHONPATH``, no site-packages, no script folder (so nothing of this
repository or of its venvs). This adds what Lambda's runtime has, in its
order: the function code (``LAMBDA_TASK_ROOT``), the layer as Lambda mounts it
(``/opt/python/lib/python3.12/site-packages``, then ``/opt/python``; here
``opt/`` beside ``var/task``) and the runtime's own packages
(``LAMBDA_RUNTIME_DIR``: ``awslambdaric`` and the SDK the runtime ships).
``.pth`` files are not processed, as on Lambda, where none of these folders
is a site directory. Then it runs ``python -m awslambdaric <handler>``.

``bootstrap.py -c CODE`` runs ``CODE`` on the same ``sys.path`` instead (for
probes: which file each module comes from, what ``import app`` loads).
"""

import os
import runpy
import sys
from pathlib import Path

task = Path(os.environ["LAMBDA_TASK_ROOT"])
opt = task.parents[1] / "opt" / "python"
version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
sys.path[:0] = [str(task), str(opt / "lib" / version / "site-packages"), str(opt)]
sys.path.append(os.environ["LAMBDA_RUNTIME_DIR"])
if sys.argv[1:2] == ["-c"]:
    code = sys.argv[2]
    sys.argv = ["-c", *sys.argv[3:]]
    exec(compile(code, "<probe>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = ["awslambdaric", *sys.argv[1:]]
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
