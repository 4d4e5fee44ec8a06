"""The processes the SIGKILL test kills: ingest + silver in a loop until killed.

Importing pyiceberg/pyarrow takes seconds on a busy 2-core machine, so that kills land in the work
and not in the imports, `--zygote` imports once and then forks one worker per `go` line read from
stdin; the test SIGKILLs the forked worker by pid (a real, separate process holding its own
PostgreSQL connections, opened after the fork). `--once` runs one clean pass in a fresh process.
Settings come from DREAMSEED_* variables set by the test (scratch database, private namespace).
Progress lines (`<pid> <stage>`) go to stdout so the test can tell where each kill landed.
"""

from __future__ import annotations

import os
import random
import sys
import time

from core.settings import Settings
from lake.ingest import ingest_outbox
from lake.silver import derive_silver


def say(text: str) -> None:
    sys.stdout.write(f"{os.getpid()} {text}\n")
    sys.stdout.flush()


def work(settings: Settings, *, once: bool) -> None:
    pause = float(os.environ.get("CRASH_WORKER_PAUSE", "0"))
    rng = random.Random()

    def before(stage: str) -> None:
        say(f"before-commit:{stage}")
        if pause:
            time.sleep(rng.uniform(0, pause))  # widen the window a kill can land in

    say("working")
    while True:
        say("ingesting")
        result = ingest_outbox(settings, batch_size=37, before_commit=lambda: before("bronze"))
        say(f"committed:bronze rows={result.rows}")
        say("deriving")
        silver = derive_silver(
            settings,
            group_rows=100_000 if once else 60,
            advance_idle=once,
            before_commit=lambda t: before(t),
        )
        say(f"committed:silver rows={silver.total_rows} commits={silver.commits}")
        if once:
            return


def zygote(settings: Settings) -> None:
    say("ready")
    for line in sys.stdin:
        if line.strip() != "go":
            continue
        pid = os.fork()
        if pid == 0:
            try:
                work(settings, once=False)
            finally:
                os._exit(1)
        say(f"forked {pid}")
        # Reap killed children so they do not linger as zombies.
        while True:
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break


def main() -> None:
    settings = Settings.load()
    if "--zygote" in sys.argv:
        zygote(settings)
    else:
        work(settings, once="--once" in sys.argv)


if __name__ == "__main__":
    main()
