"""Runs one erasure request and SIGKILLs itself right after the step named on the command line
(`python erase_worker.py REQUEST_ID STEP`): a real crash, no clean-up, connections dropped.
Settings come from DREAMSEED_* variables set by the test."""

from __future__ import annotations

import os
import signal
import sys

from core.settings import Settings
from privacy.erasure import run_erasure


def main() -> None:
    request_id, kill_after = sys.argv[1], sys.argv[2]

    def hook(step: str) -> None:
        if step == kill_after:
            sys.stdout.write(f"killed after {step}\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    run_erasure(Settings.load(), request_id, after_step=hook)


if __name__ == "__main__":
    main()
