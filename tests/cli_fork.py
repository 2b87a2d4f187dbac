"""Run ``python train.py ARGV`` for many argument lists at the cost of one interpreter start.

    python tests/cli_fork.py < runs.json > results.json

stdin: a JSON list of argument lists. stdout: a JSON list of {"returncode", "stdout", "stderr"}, one per run.

Each run is a child process forked from this one after the third-party libraries are imported (torch alone takes
~2 s of the ~3 s a fresh ``python train.py`` needs to start here); the child then executes train.py as
``__main__`` exactly as the interpreter would, with its own stdout and stderr, so nothing of the repository is
shared between runs. Its exit status is what ``python train.py`` would return: the code of SystemExit (from
``sys.exit(main())`` or argparse), or 1 with the traceback on stderr for any other exception.
"""
import json
import os
import runpy
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

import numpy  # noqa: E402,F401  (imported once, before forking; nothing of the repository is)
import PIL.Image  # noqa: E402,F401
import scipy.optimize  # noqa: E402,F401
import torch  # noqa: E402,F401
import tqdm  # noqa: E402,F401


def child(argv: list[str], out_fd: int, err_fd: int) -> None:
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    sys.argv = [str(REPO / "train.py"), *argv]
    sys.path[0] = str(REPO)  # as for `python train.py`: the script's directory first
    code = 0
    try:
        runpy.run_path(str(REPO / "train.py"), run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:  # sys.exit("message"): printed to stderr, status 1, as the interpreter does
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    runs = json.load(sys.stdin)
    results = []
    os.chdir(REPO)
    for argv in runs:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                child(argv, out.fileno(), err.fileno())
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            results.append({"returncode": os.waitstatus_to_exitcode(status),
                            "stdout": out.read().decode(errors="replace"),
                            "stderr": err.read().decode(errors="replace")})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
