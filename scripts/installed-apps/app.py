"""The installed-libtasker check in Python: app.py TEMPLATE SQLITE_FILE (see README.md)."""
import sys

import tasker
from tasker import Client

template, db = sys.argv[1], sys.argv[2]
with Client(f"sqlite://{db}") as client:
    client.load_template(template)
    client.register_handler("hello", lambda ctx: {"text": f"hello {ctx.context['who']}"})
    client.register_handler("shout", lambda ctx: {"text": ctx.dependency_results["hello"]["text"].upper()})
    task = client.create_task("installed_check", {"who": "ada"})
    client.run_task(task.task_id)
    view = client.task_view(task.task_id)
    shout = next(s for s in view["steps"] if s["name"] == "shout")
    print(f"installed-python: {view['state']} {shout['results']['text']} "
          f"(libtasker {tasker.version()} from {tasker.library_path})")
