"""doit's process runner with a watch on its workers: a lost worker never hangs the build.

doit's ``MRunner`` shares one job queue and one result queue among its worker processes and
waits on the result queue without a timeout. A worker killed by the OOM killer or by a
signal (or by a crash in a native parser) never sends its result, so the build waited
forever; and a worker killed while it waited for a job left the job queue's lock held.
Here each worker has a pipe of its own, and the parent waits on the pipes and on the
processes' sentinels together: a worker's death is seen the moment it happens. The task it
was running is run again once on a new worker; lost a second time, it fails, named, and
the build exits 1.

doit also resumes the tasks waiting on a task in a set's order; :class:`OrderedNode` makes
it the task list's. And each run's exit code is kept (:data:`FINISHED`), for the quick exit
of the ``doit`` command (``pipeline.cli``).
"""

from __future__ import annotations

import os
import sys
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from doit.control import ExecNode
from doit.exceptions import InvalidTask, TaskError
from doit.runner import FAILURE, JobHold, MRunner, Runner

from pipeline.errors import write_failure
from pipeline.exits import describe_exit
from pipeline.lifetime import die_with

if TYPE_CHECKING:  # imported when a parallel run starts: every no-op build loads this module
    from multiprocessing.connection import Connection

ATTEMPTS = 2  # a task whose worker is lost this many times fails
REPLACEMENTS = 20  # at most this many workers are started to replace lost ones
# Workers are forked, as doit's are: they run the tasks the parent loaded.
_FORK = get_context("fork")


FINISHED: list[int] = []  # the exit code of this process's last finished run, if any


class _Finishing:
    """Keeps the code a run finishes with (doit returns it as the command's exit code), and
    reports a dependency database that could not be saved (a full disk) in one line, as a
    failed task is, where doit's ``finish`` let the error out before its reporter's summary.
    Its journal keeps what the run did, all but the records it could not append either,
    whose tasks run again."""

    dep_manager: Any
    reporter: Any
    final_result: int

    def finish(self) -> int:
        close = self.dep_manager.close

        def closing() -> None:
            try:
                close()
            except OSError as error:
                line = write_failure(error)
                if line is None:
                    raise
                self.reporter.runtime_error(f"the build's record could not be saved: {line}")
                self.final_result = FAILURE

        self.dep_manager.close = closing
        code: int = super().finish()  # type: ignore[misc]
        FINISHED[:] = [code]
        return code


class SerialRunner(_Finishing, Runner):  # type: ignore[misc]
    """doit's ``Runner`` (one process), keeping its exit code."""


class WorkersLost(InvalidTask):  # type: ignore[misc]
    """Worker processes kept being lost: the run stops (doit reports it, exit 1)."""


class _Channel:
    """A worker's end of its pipe, with the ``get`` and ``put`` of the queues doit's worker
    loop (``MRunner.execute_task_subprocess``) calls. With the parent gone, ``get`` gives the
    loop's stop value and ``put`` drops the message, so an orphaned worker ends."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self) -> Any:
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            return None

    def put(self, item: Any) -> None:
        try:
            self.connection.send(item)
        except OSError:
            pass


class _Worker:
    """A worker process, the parent's end of its pipe, and what it was last given."""

    __slots__ = ("process", "connection", "job", "stopping", "holding")

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.job: Any = None  # the job it runs (None: idle or stopping)
        self.stopping = False  # sent the stop value: its exit is expected
        self.holding = False  # idle until a task can start


class WatchedRunner(_Finishing, MRunner):  # type: ignore[misc]
    """``MRunner`` with one pipe per worker and a watch on each worker's life."""

    def run_tasks(self, task_dispatcher: Any) -> None:
        from multiprocessing.connection import wait

        self._run_tasks_init(task_dispatcher)
        self._workers: list[_Worker] = []
        self._attempts: dict[str, int] = {}
        self._replacements = 0
        try:
            for _ in range(self.num_process):
                job = self.get_next_job(None)
                if job is None:
                    break  # no more workers than tasks
                self._dispatch(self._start_worker(), job)
            while self._workers:
                self._check_progress()
                ready = set(wait([w.connection for w in self._workers]
                                 + [w.process.sentinel for w in self._workers]))
                for worker in list(self._workers):
                    if worker.connection in ready:
                        self._receive(worker)
                for worker in list(self._workers):
                    if worker.process.sentinel in ready:
                        self._ended(worker)
        except (SystemExit, KeyboardInterrupt, Exception):
            for worker in self._workers:
                worker.process.terminate()
            for worker in self._workers:
                worker.process.join(5)
            raise

    # workers ---------------------------------------------------------------------------
    def _start_worker(self) -> _Worker:
        parent_end, child_end = _FORK.Pipe()
        process = _FORK.Process(target=self._work, args=(
            child_end, parent_end, os.getpid(), self.reporter.__class__))
        process.start()
        child_end.close()  # the child holds the only copy: its death ends the pipe
        worker = _Worker(process, parent_end)
        self._workers.append(worker)
        return worker

    def _work(self, connection: Connection, parent_end: Connection, parent: int,
              reporter_class: type) -> None:
        """A worker process: doit's worker loop over this worker's own pipe. It ends with
        the build's process, however that ends (:func:`pipeline.lifetime.die_with`); and it
        closes the parent's ends of every pipe it inherited, its own pipe's too, so that with the
        parent gone its next read ends it (else it waited for a job for ever, and held the
        output's lock: every later build said another one was running)."""
        die_with(parent)
        parent_end.close()
        for worker in self._workers:
            worker.connection.close()
        channel = _Channel(connection)
        self.execute_task_subprocess(channel, channel, reporter_class)

    def _dispatch(self, worker: _Worker, job: Any) -> None:
        """Send a job (None: stop) to a worker, or leave it holding for a task to start."""
        worker.holding = isinstance(job, JobHold)
        worker.job = None if worker.holding else job
        if worker.holding:
            self.free_proc = 0  # doit's count of holding workers: kept here per worker
            return
        worker.stopping = job is None
        if job is not None:
            self._attempts[job.name] = self._attempts.get(job.name, 0) + 1
        try:
            worker.connection.send(job)
        except OSError:
            pass  # it died: its sentinel says so next

    def _fill(self, completed: Any, worker: _Worker | None) -> None:
        """Give work to ``worker`` and to every holding worker, telling doit's dispatcher
        that ``completed`` is done."""
        idle = [w for w in self._workers if w.holding and w is not worker]
        for target in ([worker] if worker is not None else []) + idle:
            job = self.get_next_job(completed)
            completed = None
            self._dispatch(target, job)
        if completed is not None:  # no worker to fill: the dispatcher still hears of it
            job = self.get_next_job(completed)
            if job is not None:
                self._dispatch(self._start_worker(), job)

    def _check_progress(self) -> None:
        """Every worker holding and none running: no task can ever start (doit's check)."""
        if all(w.holding for w in self._workers):
            raise RuntimeError("no task can start: the tasks' dependencies form a cycle")

    # messages --------------------------------------------------------------------------
    def _receive(self, worker: _Worker) -> None:
        """Handle every message waiting on a worker's pipe."""
        while True:
            try:
                if not worker.connection.poll():
                    return
                message = worker.connection.recv()
            except (EOFError, OSError):
                return  # the worker is gone (a message it was writing is lost with it)
            if "exit" in message:
                raise message["exit"](message["exception"])
            node = self.task_dispatcher.nodes[message["name"]]
            if "reporter" in message:
                getattr(self.reporter, message["reporter"])(node.task)
                continue
            worker.job = None
            self._process_result(node, node.task, message)
            self._fill(node, worker)

    def _ended(self, worker: _Worker) -> None:
        """A worker process ended: expected, or lost with the task it ran."""
        self._receive(worker)  # what it sent before it ended
        worker.process.join()
        self._workers.remove(worker)
        worker.connection.close()
        if worker.stopping:
            return
        how = describe_exit(worker.process.exitcode)
        job = worker.job
        if job is None:  # lost while idle: a new worker takes its place
            self._replace(how).holding = True
            return
        if self._attempts.get(job.name, 0) < ATTEMPTS:
            print(f"note: the worker process running {job.name} was lost ({how}); "
                  "running it again", file=sys.stderr)
            self._dispatch(self._replace(how), job)
            return
        node = self.task_dispatcher.nodes[job.name]
        self.process_task_result(node, TaskError(
            f"its worker process was lost ({how}), on each of "
            f"{self._attempts.get(job.name, 0)} attempts"))
        self._fill(node, None)

    def _replace(self, how: str) -> _Worker:
        """A new worker in place of a lost one; the run stops when too many were lost."""
        if self._replacements >= REPLACEMENTS:
            running = sorted(w.job.name for w in self._workers if w.job is not None)
            raise WorkersLost(f"{REPLACEMENTS + 1} worker processes were lost (the last "
                              f"{how}); tasks still running: {', '.join(running) or 'none'}")
        self._replacements += 1
        return self._start_worker()


class _Arrivals(dict[Any, None]):
    """The tasks waiting on a task, in the order they came to wait: a set with the
    ``add`` doit calls, iterated in insertion order."""

    def add(self, node: Any) -> None:
        self[node] = None


class OrderedNode(ExecNode):  # type: ignore[misc]
    """doit's node of a task in a run, whose waiting tasks become ready in the order they
    came to wait, which is the order of the task list (the costliest chunks of a stage
    first, :mod:`pipeline.tasks`), rather than in a set's order, which changes from run
    to run: the largest chunk of a layer's pages could then start last after the layer's
    link, and run alone at the end while the other worker waits."""

    def __init__(self, task: Any, parent: Any) -> None:
        super().__init__(task, parent)
        self.waiting_me = _Arrivals()


def install() -> None:
    """Make doit's ``run -P process`` use :class:`WatchedRunner` and its one-process run
    :class:`SerialRunner` (``doit.cmd_run`` picks its runner class by these module-level
    names when the command runs), and its dispatcher make :class:`OrderedNode` nodes
    (``doit.control`` makes them by this module-level name)."""
    import doit.cmd_run
    import doit.control

    doit.cmd_run.Runner = SerialRunner
    doit.cmd_run.MRunner = WatchedRunner
    doit.control.ExecNode = OrderedNode
