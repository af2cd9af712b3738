"""A sentinel password in a database URL never appears in any output: every error path that sees
a URL runs in a child process with libtasker's logging at trace level, printing each error and
client with str() and repr(); the child's whole output is then searched."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SENTINEL = "S3NT1NEL-pw"

CHILD = r'''
import os, sys, urllib.parse
sys.path.insert(0, sys.argv[1])
import tasker
tasker.init_logging()
S = sys.argv[2]
def show(what, v):
    print(what, str(v), repr(v), getattr(v, "message", ""), flush=True)
bad = [f"Postgres://u:{S}@127.0.0.1:1/db", f" postgres://u:{S}@127.0.0.1:1/db",
       f"mysql://u:{S}@127.0.0.1:1/db", f"postgres://u:{S}@127.0.0.1:1/db",
       f"postgres://u@127.0.0.1:1/db?password={S}"]
for url in bad:
    try:
        tasker.Client(url, connect_timeout_ms=500)
    except tasker.TaskerError as e:
        show("open error", e)
    else:
        sys.exit("opened " + url.replace(S, "***"))
urls = ["sqlite://" + os.path.join(sys.argv[3], "secret.db")]
pg = os.environ.get("TASKER_CONFORMANCE_PG_URL")
if pg:
    # The test server trusts local connections: the password is accepted and unused.
    p = urllib.parse.urlsplit(pg)
    urls.append(p._replace(netloc=f"{p.username}:{S}@{p.hostname}:{p.port}").geturl())
for url in urls:
    c = tasker.Client(url, connect_timeout_ms=500)
    show("client", c)
    for call in (lambda: c.create_task("no_such_template", {}), lambda: c.task_view(-1),
                 lambda: c.load_template("name: [unclosed")):
        try:
            call()
        except tasker.TaskerError as e:
            show("call error", e)
    c.close()
    try:
        c.task_view(1)
    except tasker.TaskerError as e:
        show("closed client error", e)
    show("closed client", c)
'''


def test_sentinel_password_never_printed(tmp_path: Path) -> None:
    pkg = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, TASKER_LOG="trace")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, pkg, SENTINEL, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert SENTINEL not in text, text[max(0, text.find(SENTINEL) - 300): text.find(SENTINEL) + 100]
    assert ":***@" in text, "no masked URL printed: the error paths did not run?\n" + text
