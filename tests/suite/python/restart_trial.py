"""A restart command for kill trials: restarts nothing (the trials' health server always
answers), and fails once when the data directory holds `fail-next-restart`, which it
removes, so that the activation fails and goes back.

    python3 restart_trial.py

The data directory is COSMO_DATA_DIR, which cosmo-bundle sets for its restart command.
"""

import os
import sys

flag = os.path.join(os.environ["COSMO_DATA_DIR"], "fail-next-restart")
if os.path.exists(flag):
    os.remove(flag)
    print("restart refused: fail-next-restart", file=sys.stderr)
    sys.exit(3)
