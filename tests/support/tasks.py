"""The tasks of the running trio run: what a test counts to see which tasks a server keeps."""

import trio


def all_tasks() -> list[trio.lowlevel.Task]:
    """Every task of this run, the root's descendants included."""
    root = trio.lowlevel.current_root_task()
    assert root is not None
    tasks, found = [root], []
    while tasks:
        task = tasks.pop()
        found.append(task)
        for nursery in task.child_nurseries:
            tasks.extend(nursery.child_tasks)
    return found


def tasks_running(code: object) -> int:
    """How many tasks of this run are running the function whose code is ``code``."""
    return sum(getattr(task.coro, "cr_code", None) is code for task in all_tasks())
