"""A writer of cosmo.db (as the server could be) killed in the middle of a commit.

Usage: kill_mid_commit.py DB

A tiny page cache makes SQLite write pages into the database file before the commit, so
the journal it leaves behind is hot: the next connection must roll it back.
"""

import os
import signal
import sqlite3
import sys

db = sys.argv[1]
pid = os.fork()
if pid == 0:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA cache_size = 2")
    conn.execute("BEGIN")
    conn.execute("UPDATE plugins SET error_message = 'half-written'")
    conn.execute("CREATE TABLE server_log (line TEXT)")
    for _ in range(300):
        conn.execute("INSERT INTO server_log VALUES (?)", ("x" * 4000,))
    os.kill(os.getpid(), signal.SIGKILL)
_, status = os.waitpid(pid, 0)
assert os.WIFSIGNALED(status), status
journal = db + "-journal"
assert os.path.getsize(journal) > 0, "no hot journal was left"
