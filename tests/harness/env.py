"""What is under test and on which platform: the environment every black-box
script reads, and the one switch between native and Wine values.

  IOCPD_BIN       path to iocpd (or iocpd.exe under Wine)
  IOCPD_WRAPPER   command prefix put before IOCPD_BIN (e.g. a Wine wrapper
                  script); empty when the binary runs natively
  IOCPD_PLATFORM  "native" (the default) or "wine"
  IOCPD_TEST_SEED repeats a run's random data (the scripts print the seed)

Sizes, loads and waits differ between the platforms, never the checks:
pick(native, wine) chooses the value.
"""

import os
import random
import shlex

PLATFORM = os.environ.get("IOCPD_PLATFORM", "").strip() or "native"
WINE = PLATFORM == "wine"

# Wine's socket path goes through the wineserver (about 400 us per round
# trip) and a Wine process takes seconds to start, so every wait is longer.
READY_TIMEOUT = float(os.environ.get("IOCPD_READY_TIMEOUT", 30 if WINE else 10))
HOST = "127.0.0.1"

# The seed of this run's random data: one per process, so that a failure
# can be repeated with IOCPD_TEST_SEED.
SEED = int(os.environ.get("IOCPD_TEST_SEED", "0")) or random.randrange(1, 1 << 30)


def pick(native, wine):
    """Returns the value for the platform under test (sizes, timeouts)."""
    return wine if WINE else native


# The window, seen from a client, in which a timeout of about 1 s
# (connect_timeout, idle_timeout) must fire.
ONE_SECOND_WINDOW = (0.8, pick(3.0, 4.0))


def command():
    """The argv prefix that runs iocpd: the wrapper (split like a shell
    would) followed by IOCPD_BIN."""
    binary = os.environ.get("IOCPD_BIN", "").strip()
    if not binary:
        raise RuntimeError("IOCPD_BIN is not set: point it at the iocpd executable")
    wrapper = shlex.split(os.environ.get("IOCPD_WRAPPER", ""))
    return wrapper + [binary]
