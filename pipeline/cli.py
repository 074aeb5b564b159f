"""The command line: argv -> Config -> doit. ``main`` returns the exit code.

Exit codes: 0 success; 1 some files failed (pages still written) or ``check`` found
differences; 2 usage or configuration error, or the output folder is locked.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pipeline import layout, runstate, state
from pipeline.config import CACHE_MODES, Config, load_pyproject, make_config
from pipeline.discover import Scan, scan_tree
from pipeline.errors import (
    ConfigError,
    OutputError,
    PipelineError,
    TasksBroke,
    UsageError,
    write_failure,
)
from pipeline.graph import Graph, build_graph
from pipeline.session import (
    collector_paused,
    discovered,
    doit_namespace,
    record_run,
    run_build,
    run_doit,
    usable_cache,
)

if TYPE_CHECKING:
    from pipeline.quick import Verdict
    from pipeline.session import Done

# doit, the reporter (rich) and the task graph are imported where a run needs them: a
# build that the quick no-op check (pipeline.quick) finds up to date loads none of them.

CONFIG_KEYS = ("source", "output", "depth", "jobs", "project", "include", "exclude",
               "max_source_bytes", "max_tests", "max_related", "templates", "cache",
               "cache_mode", "scheduler")
READ_ONLY_DOIT_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
DOIT_COMMANDS = READ_ONLY_DOIT_COMMANDS | {"run", "clean", "forget", "ignore", "auto",
                                           "strace", "reset-dep"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (through UsageError)
        raise UsageError(f"usage error: {message}")


INTERRUPTED = "interrupted: the next build takes up where this one stopped"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "check", "clean", "watch"):
        sub = commands.add_parser(name)
        if name != "clean":
            sub.add_argument("source", nargs="?", default=None)
            sub.add_argument("--depth", type=int, default=None)
            sub.add_argument("--project", default=None)
            sub.add_argument("--cache", default=None, metavar="URL")
            sub.add_argument("--cache-mode", dest="cache_mode", default=None,
                             choices=CACHE_MODES)
            sub.add_argument("--scheduler", default=None, metavar="ADDRESS")
        sub.add_argument("--output", default=None)
        if name in ("build", "watch"):
            sub.add_argument("--jobs", type=int, default=None)
        if name == "build":
            sub.add_argument("--only", nargs="+", default=None, metavar="PATH")
            sub.add_argument("--strict", action="store_true")
        if name == "check":
            sub.add_argument("--full", action="store_true",
                             help="render every page again instead of trusting the build state")
    return parser


def environment_layer() -> dict[str, Any]:
    """``PIPELINE_SOURCE=...`` style overrides."""
    return {key: os.environ[f"PIPELINE_{key.upper()}"] for key in CONFIG_KEYS
            if f"PIPELINE_{key.upper()}" in os.environ}


def load_config(flags: dict[str, Any]) -> Config:
    return make_config(load_pyproject("."), environment_layer(), flags)


def _lock(config: Config) -> None:
    """Before a build writes: the scheduler asked, the output's lock taken, and what a
    killed build left in the state folder removed."""
    _probe_scheduler(config)
    runstate.take_output(config.output)


def _probe_scheduler(config: Config) -> None:
    """Exit 2 with one line when the configured scheduler does not answer (before any
    build, check or watch uses it: Dask's client would wait for it without end)."""
    if config.scheduler:
        from pipeline.schedprobe import unreachable

        problem = unreachable(config.scheduler)
        if problem:
            raise ConfigError("scheduler", f"{config.scheduler} is unreachable: {problem}")


def _prepare_state(config: Config) -> bool:
    for message in runstate.check_state(config.output):
        print(f"note: {message}", file=sys.stderr)
    return not runstate.is_sealed(config.output)


def command_build(config: Config, only: list[str] | None, strict: bool) -> int:
    """A build: the quick no-op check, then discovery and doit (:mod:`pipeline.session`)."""
    from pipeline import quick

    with collector_paused() as collecting:
        started = time.perf_counter()
        _lock(config)
        scan = scan_tree(config)
        verdict = quick.check(config, scan) if not only else quick.Verdict()
        if verdict.report is not None:
            return _quick_noop(verdict.report, strict, time.perf_counter() - started)
        graph = build_graph(config, dirty=_prepare_state(config), strict=strict, scan=scan)
        if only:
            from pipeline.only import resolve_paths, select_inputs

            wanted = resolve_paths(only, config.source)
            if os.path.exists(runstate.database(graph.root)):
                return _build_only(graph, select_inputs(graph, wanted))
            print("note: nothing was built here yet: --only builds everything once",
                  file=sys.stderr)
        done = run_build(graph, scan, verdict, strict=strict, collecting=collecting)
        return 1 if done.failed else 0


def _quick_noop(report: dict[str, Any], strict: bool, elapsed: float) -> int:
    """The end of a build the quick check found up to date: the summary a no-op prints, and
    its exit code (1 when files failed)."""
    from pipeline.summary import make_console, print_summary, summary_rows

    failed = report["strict" if strict else "default"]
    console = make_console(sys.stderr)
    print_summary(console, console.is_terminal,
                  summary_rows(report["discovered"], {}, failed["files"]), elapsed, (),
                  failed["lines"])
    return 1 if failed["files"] else 0


def _build_only(graph: Graph, selected: frozenset[str]) -> int:
    from pipeline.only import build_only
    from pipeline.report import failed_notes, read_notes
    from pipeline.summary import failure_texts

    totals, warnings = build_only(graph, selected)
    print("summary (--only): " + "; ".join(f"{k.replace('_', ' ')} {v:,}"
                                           for k, v in sorted(totals.items())), file=sys.stderr)
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    notes = [n for n in read_notes(graph.root, graph.config.depth) if n.path in selected]
    failed = failed_notes(notes, graph.strict)
    for line in failure_texts(failed):
        print(line, file=sys.stderr)
    return 1 if failed else 0


def command_check(config: Config, full: bool) -> int:
    """List what a build would change in the output (see :mod:`pipeline.check`)."""
    from pipeline.check import check_output, report
    from pipeline.report import reporter_for

    output = Path(config.output)
    if (output / layout.STATE).is_dir():
        runstate.acquire_lock(config.output)  # no build or check of it runs meanwhile
    elif output.exists() and not output.is_dir():  # no build could write there either
        raise OutputError(config.output, "cannot be written: it is not a folder")
    said: set[str] = set()

    def run(graph: Graph) -> None:
        # the scheduler and the cache asked only when pages are rendered (an up-to-date
        # output is told without them)
        _probe_scheduler(config)
        graph, warnings = usable_cache(graph)
        for message in warnings.values():
            if message not in said:  # once, though the check may run twice
                said.add(message)
                print(f"warning: {message}", file=sys.stderr)
        with open(os.devnull, "w", encoding="utf-8") as quiet:
            reporter = reporter_for(graph.root, config.depth, {}, stream=quiet)
            run_doit(doit_namespace(graph, reporter), ["run"])
        # a task that broke (a full disk) left the scratch folder short of what a build
        # leaves: compared, it would pass the output as up to date
        errors = reporter.last.summary.get("errors") if reporter.last is not None else None
        if errors:
            raise TasksBroke(errors)

    return report(check_output(config, full, run), config.output)


def command_watch(config: Config) -> int:
    """Build, then build again on every change of the source tree (see :mod:`pipeline.watch`)."""
    from pipeline.watch import watch

    _probe_scheduler(config)
    return watch(config)


def command_clean(config: Config) -> int:
    output = Path(config.output)
    if not output.exists():
        return 0
    if not (output / layout.STATE).is_dir():
        raise UsageError(f"usage error: {output} holds no pipeline state; not removing it")
    runstate.acquire_lock(config.output)
    # The state's version first: killed half way, what is left is reset as foreign state.
    # The state folder last: what is left is still a build's output, which a build (or
    # clean) takes on, where a folder of files without it is refused as somebody else's.
    (output / layout.STATE / "version").unlink(missing_ok=True)
    for child in sorted(output.iterdir(), key=lambda path: path.name == layout.STATE):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    output.rmdir()
    return 0


def run() -> NoReturn:
    """The ``pipeline`` command (and ``python -m pipeline``): :func:`main`, then a quick
    exit (:func:`leave`)."""
    leave(main())


def leave(code: int) -> NoReturn:
    """End the command-line process with ``code``, without tearing the interpreter down.

    By the time a command returns, every file it made is written and closed, and no pool,
    client or worker process of it is left (what a command starts, it joins). What remains
    of a normal exit is freeing each module and object one by one: after an edit has
    loaded the extractors (libcst alone defines hundreds of dataclasses), about 60 ms, a
    seventh of the build (bench/README.md). So the exit handlers run, the standard streams
    are flushed, and the process ends. The normal exit is kept where a thread other than
    the main one still runs (and is not a daemon), which it waits for, and under a profiler
    or a tracer (``python -m cProfile``, a debugger), which write their results after the
    program returns. (Not in ``pipeline.exits``: that module is extraction code, in every
    record's key.)"""
    if sys.getprofile() is not None or sys.gettrace() is not None or any(
            thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
            for thread in threading.enumerate()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            pass
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        flags = {key: getattr(args, key, None) for key in CONFIG_KEYS}
        config = load_config(flags)
        if args.command == "build":
            return command_build(config, args.only, args.strict)
        if args.command == "check":
            return command_check(config, args.full)
        if args.command == "watch":
            return command_watch(config)
        return command_clean(config)
    except PipelineError as error:
        print(str(error), file=sys.stderr)
        return error.exit_code
    except OSError as error:  # the output's file system, outside a task: a full disk
        line = write_failure(error)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was written is whole and recorded as such
        print(INTERRUPTED, file=sys.stderr)
        return 130
    finally:
        runstate.release_locks()
        if "pipeline.cluster" in sys.modules:  # a scheduler was used in this process
            sys.modules["pipeline.cluster"].close_clients()
        if "pipeline.cache" in sys.modules:  # a shared cache was used in this process
            sys.modules["pipeline.cache"].close_pool()


def dodo_namespace() -> dict[str, Any]:
    """What ``dodo.py`` exports: the task creators and DOIT_CONFIG, from the config
    of the working directory and ``doit key=value`` variables. ``doit`` (or ``doit run``,
    ``doit docs``) on an output the quick check finds up to date gets no graph: only the
    ``docs`` task, up to date, and the summary a no-op prints (:func:`_noop_namespace`).
    The ``doit`` command then exits as ``python -m pipeline`` does (:func:`_leave_after_run`)."""
    from pipeline import runner

    namespace = _dodo_namespace()
    runner.FINISHED.clear()  # a build run here, in process, is not the command's run
    if _doit_command():  # not a program that loads the namespace itself (a test, a tool)
        atexit.register(_leave_after_run, os.getpid(), atexit._ncallbacks() + 1)
        sys.excepthook = _interrupt_said(sys.excepthook)
    return namespace


def _interrupt_said(hook: Callable[..., Any]) -> Callable[..., Any]:
    """The ``doit`` command's hook for an exception nothing caught: Ctrl-C is said in the
    line ``python -m pipeline`` prints, not with doit's traceback (the process still ends
    by SIGINT, as Python ends it); anything else goes to ``hook``."""
    def said(kind: type[BaseException], value: BaseException, trace: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            print(INTERRUPTED, file=sys.stderr)
            return
        hook(kind, value, trace)
    return said


def _doit_command() -> bool:
    """Whether this process is doit's command line (its console script, or ``python -m
    doit``): only there is the code of the last run of tasks the process's exit code."""
    import doit.__main__

    program = sys.modules.get("__main__")
    spec = getattr(program, "__spec__", None)
    return getattr(program, "main", None) is doit.__main__.main \
        or (spec is not None and spec.name == "doit.__main__")


def _leave_after_run(pid: int, registered: int) -> None:
    """At the exit of the ``doit`` command, once a run of its tasks finished:
    :func:`leave` with the run's code, which is the one doit exits with. Exit handlers run
    last registered first; when this one is the last registered (``registered``, the
    count of handlers with it, is still the count), every other handler is still to run,
    and runs in :func:`leave`, once; the interpreter's teardown (about 0.1 s after an edit
    of the torch wheel) is skipped. The normal exit otherwise, and in a forked child,
    after an uncaught exception (its code is not the run's), and when no run finished
    (``doit list``, an error before tasks ran)."""
    from pipeline import runner

    if os.getpid() != pid or not runner.FINISHED or hasattr(sys, "last_value") \
            or atexit._ncallbacks() != registered:
        return
    atexit.unregister(_leave_after_run)
    leave(runner.FINISHED[-1])


def _dodo_namespace() -> dict[str, Any]:
    from doit import get_var

    from pipeline import runner
    from pipeline.report import reporter_for

    try:
        variables = {key: get_var(key) for key in CONFIG_KEYS}
        config = load_config({k: v for k, v in variables.items() if v is not None})
        command = next((a for a in sys.argv[1:] if a in DOIT_COMMANDS), "run")
        writing = command not in READ_ONLY_DOIT_COMMANDS
        scan = verdict = None
        if writing:
            _lock(config)
            scan = scan_tree(config)
            if command == "run" and _whole_build(sys.argv[1:]):
                from pipeline import quick

                verdict = quick.check(config, scan)
                if verdict.report is not None:
                    return _noop_namespace(config, verdict.report)
        dirty = _prepare_state(config) if writing else False
        graph = build_graph(config, dirty=dirty, save_cache=writing, scan=scan)
    except PipelineError as error:
        print(str(error), file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    runner.install()
    finished = None
    trusted = False
    if scan is not None and verdict is not None:  # the whole build: record it when done
        from pipeline import quick

        trusted = quick.trusted(graph, verdict)
        options = _plain_doit(sys.argv[1:]) if trusted else None
        if options is not None:
            # Only sources moved: the build python -m pipeline build runs (the chunks the
            # edit reaches, then the whole graph if a link reached others), here and now.
            with collector_paused() as collecting:
                done = run_build(graph, scan, verdict, collecting=collecting, options=options)
            return _built_namespace(config, done)
        finished = _recorder(graph, scan, verdict, trusted)
    # Only sources moved since the last record (the quick check compared every page): the
    # page-writing tasks trust their pages as recorded and check only their inputs. doit
    # still gets the whole graph: a link may reach any chunk's context.
    state.trust_outputs(graph.root, trusted)
    return doit_namespace(graph, reporter_for(graph.root, config.depth, discovered(graph),
                                              finished=finished))


def _run_options() -> list[dict[str, Any]]:
    """doit's definitions of the options ``doit run`` accepts."""
    from doit.cmd_base import DodoTaskLoader, DoitCmdBase
    from doit.cmd_run import Run

    return [*DoitCmdBase.base_options, *DodoTaskLoader.cmd_options, *Run.cmd_options]


def _flags(option: dict[str, Any]) -> set[str]:
    return {f"-{option['short']}" if option.get("short") else "",
            f"--{option['long']}" if option.get("long") else ""} - {""}


# The options of ``doit run`` that a build dodo.py runs itself takes on: the jobs.
PASSED_OPTIONS = ("num_process", "par_type")


def _plain_doit(argv: list[str]) -> list[str] | None:
    """For ``doit``, ``doit run`` or ``doit docs``, with ``key=value`` variables and at most
    the jobs options (``-n N``, ``-P process|thread``, in any of doit's spellings): those
    options, for the build's own run. None when anything else about how doit runs tasks (a
    reporter, verbosity, ...) is asked: doit then runs the graph itself."""
    from pipeline.tasks import NAMESPACE

    passed = {flag: f"-{option['short']}" for option in _run_options()
              if option["name"] in PASSED_OPTIONS for flag in _flags(option)}
    options: list[str] = []
    words = iter(argv)
    for word in words:
        name, equals, value = word.partition("=")
        if word in ("run", NAMESPACE) or (equals and not word.startswith("-")):
            continue
        if name not in passed:
            return None
        value = value if equals else next(words, "")
        if not value:
            return None
        options += [passed[name], value]
    return options


def _recorder(graph: Graph, scan: Scan, verdict: Verdict,
              trusted: bool) -> Callable[[Any], None]:
    """What a ``doit`` run of the whole build does once complete (doit saved its database
    first), as ``python -m pipeline build`` does: record it for the quick check, so the
    next ``doit`` or build can be a quick no-op (reusing the parts of the last record when
    the run began from outputs the quick check found as recorded)."""
    def finished(reporter: Any) -> None:
        state.trust_outputs(graph.root, False)
        record_run(graph, scan, verdict, reporter, trusted)
    return finished


def _whole_build(argv: list[str]) -> bool:
    """doit's arguments ask for the build as a whole and nothing forces tasks to run:
    ``doit``, ``doit run``, ``doit docs``, with options and ``key=value`` variables. Which
    options take a value (``-n 2``: the value is no task name) comes from doit's own
    definitions of the options ``doit run`` accepts."""
    from pipeline.tasks import NAMESPACE

    valued: set[str] = set()
    for option in _run_options():
        flags = _flags(option)
        if option["name"] == "always":  # -a: every task runs
            if flags & set(argv):
                return False
        elif option["type"] is not bool:
            valued |= flags
    words = iter(argv)
    for word in words:
        if word in valued:
            next(words, None)
        elif not (word.startswith("-") or "=" in word or word in ("run", NAMESPACE)):
            return False
    return True


def _noop_namespace(config: Config, report: dict[str, Any]) -> dict[str, Any]:
    """The namespace of a ``doit`` run the quick check finds up to date (``report``: what
    it prints): the build's reporter with what discovery found prints the no-op summary,
    and the run fails (exit 1) when files failed, as the whole graph's does."""
    from pipeline.prune import failure_verdict
    from pipeline.report import reporter_for

    root, depth = config.output, config.depth
    failing = (failure_verdict, [root, depth, False]) if report["default"]["files"] else None
    return _done_namespace(config, failing, reporter_for(root, depth, report["discovered"]))


def _built_namespace(config: Config, done: Done) -> dict[str, Any]:
    """The namespace of a ``doit`` run whose build ``dodo.py`` ran itself, summary printed:
    the run fails (exit 1) when files failed or a task broke, as the build's exit code."""
    from pipeline.report import reporter_for

    def failed() -> Any:
        from doit.exceptions import TaskFailed

        return TaskFailed("the docs build failed (see above)")

    return _done_namespace(config, failed if done.failed else None,
                           reporter_for(config.output, config.depth, {}, deferred=True))


def _done_namespace(config: Config, failing: Any, reporter: Any) -> dict[str, Any]:
    """A namespace whose docs build is already done: the ``docs`` task, up to date, after a
    ``docs:failures`` task running the action ``failing`` (none: no such task). That task
    is never in the database, so nothing there changes. doit's own tasks of the project,
    beside them, run as always."""
    from pipeline.tasks import NAMESPACE, task_name

    def task_docs() -> Any:
        if failing is not None:
            yield {"basename": task_name("failures"), "verbosity": 0, "actions": [failing]}
        yield {"basename": NAMESPACE, "actions": None, "uptodate": [True],
               "task_dep": [task_name("failures")] if failing is not None else [],
               "doc": "document the source tree (runs every docs:... task)"}

    return {"task_docs": task_docs, "DOIT_CONFIG": {
        "dep_file": runstate.database(config.output), "backend": "pipeline",
        "reporter": reporter, "default_tasks": [NAMESPACE]}}
