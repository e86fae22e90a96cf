"""synclab's pytest plugin (the ``pytest11`` entry point ``synclab``; off with ``-p no:synclab``).

Every class decorated with ``@synclab.stress`` at the top level of a module pytest collects is one
test item: running it runs the stress test through the kernel's engine, a forbidden outcome
fails it with the outcome histogram as its message, and the terminal summary gives every stress
test's verdict (and the histogram of each interesting one, or of all with ``-v``).

pytest loads this module in every run where synclab is installed, synclab's own suite included,
so it imports nothing of synclab at load time: the kernel is imported inside the hooks, and only
once a stress test is collected or a synclab option is set.
"""

import platform
import sys
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import pytest

TIME_BUDGET = "--synclab-time-budget"
GIL = "--synclab-gil"
TIME_BUDGET_INI = "synclab_time_budget"
GIL_INI = "synclab_gil"


class Settings(NamedTuple):
    time_budget_s: Optional[float]  # None: the kernel's default
    gil: Optional[str]  # enabled | disabled; None: whatever this process runs with


class Ran(NamedTuple):
    """One stress test that ran: its node id, its result as plain data, the interpreter it ran under."""

    nodeid: str
    result: Dict[str, Any]
    interpreter: str


SETTINGS = pytest.StashKey[Settings]()
RAN = pytest.StashKey[List[Ran]]()


class StressFailed(Exception):
    """A forbidden outcome was seen: the message is the histogram, the summary its verdict line."""

    def __init__(self, message: str, summary: str) -> None:
        super().__init__(message)
        self.summary = summary


class Crash(NamedTuple):
    """Where pytest's short summary looks for the one line a failure is shown by."""

    path: str
    lineno: Optional[int]
    message: str


class Failure:
    """A failed stress test as pytest prints it: the histogram in full, the verdict line in the
    short test summary (a plain string would be printed in full there too, on CI)."""

    def __init__(self, text: str, crash: Crash) -> None:
        self.text = text
        self.reprcrash = crash

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("synclab", "synclab stress tests (classes decorated with @synclab.stress)")
    group.addoption(TIME_BUDGET, metavar="S", default=None,
                    help=f"seconds each stress test runs, > 0 (default: the ini option {TIME_BUDGET_INI}, "
                         "else synclab's default of 1 s)")
    group.addoption(GIL, metavar="{enabled,disabled}", default=None,
                    help="run the stress tests with the GIL enabled or disabled; disabled needs a free-threaded "
                         "build, and a state this process is not in runs each test in a fresh interpreter "
                         f"(default: the ini option {GIL_INI}, else this process's state)")
    parser.addini(TIME_BUDGET_INI, f"seconds each stress test runs, as {TIME_BUDGET}")
    parser.addini(GIL_INI, f"enabled or disabled, as {GIL}")


def _setting(config: pytest.Config, option: str, ini: str) -> Tuple[Optional[str], str]:
    """(value, how the user spelled its name): the command line first, then the ini file."""
    value = config.getoption(option)
    if value is not None:
        return value, option
    value = config.getini(ini)
    return (value.strip() or None, f"{ini} (ini)") if isinstance(value, str) else (None, ini)


def _renamed(message: str, key: str, name: str) -> str:
    """A kernel message names its key as Hydra spells it; the user set it under another name."""
    return name + message[len(key):] if message.startswith(key) else f"{name}: {message}"


def settings(config: pytest.Config) -> Settings:
    """The options, checked: a bad value is a usage error of one line that names the option."""
    budget_text, budget_name = _setting(config, TIME_BUDGET, TIME_BUDGET_INI)
    state, state_name = _setting(config, GIL, GIL_INI)
    if budget_text is None and state is None:
        return Settings(None, None)  # nothing to check: the kernel is not imported
    from synclab.kernel import gil
    from synclab.kernel.stress.spec import DEFAULT_TIME_BUDGET_S, StressSpec, problems

    budget: Union[float, str, None] = None
    if budget_text is not None:
        try:
            budget = float(budget_text)
        except ValueError:
            budget = budget_text  # problems() says it is not a number of seconds
    spec = StressSpec("-", time_budget_s=DEFAULT_TIME_BUDGET_S if budget is None else budget, gil=state)
    for wrong in problems(spec):
        if wrong.startswith("stress.time_budget_s:"):
            raise pytest.UsageError(_renamed(wrong, "stress.time_budget_s", budget_name))
        if wrong.startswith("gil:"):
            raise pytest.UsageError(_renamed(wrong, "gil", state_name))
    try:
        gil.target(spec)
    except gil.GilUnavailable as error:
        raise pytest.UsageError(_renamed(str(error), "gil", state_name)) from None
    return Settings(None if budget is None else float(budget), state)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = settings(config)
    config.stash[RAN] = []


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A decorated class is a stress item where it is defined, and nothing anywhere else: pytest's
    own collection never sees it (a class named Test* is not also collected as a test class)."""
    api = sys.modules.get("synclab.kernel.stress.api")  # not imported: nothing has been decorated
    if api is None or not isinstance(obj, type) or not isinstance(collector, pytest.Module):
        return None
    test = api.declaration(obj)
    if test is None:
        return None
    if obj.__module__ != collector.obj.__name__ or name != obj.__name__:
        return []  # imported from another module, or a second name for it: run once, where it is defined
    return StressItem.from_parent(collector, name=name, test=test)


def _interpreter(python: Dict[str, Any]) -> str:
    """``CPython 3.13.5t``: the build that ran the test (its GIL state is the histogram's to say)."""
    suffix = "t" if python.get("free_threaded") else ""
    return f"{python.get('implementation')} {python.get('version')}{suffix}"


def _this_interpreter() -> str:
    from synclab.kernel import gil

    return _interpreter({"implementation": platform.python_implementation(), "version": platform.python_version(),
                         "free_threaded": gil.free_threaded()})


class StressItem(pytest.Item):
    """One ``@synclab.stress`` class: run by the engine, failed by a forbidden outcome."""

    # pytest-run-parallel, if installed, runs this item once, as it is: the engine starts its own threads
    _parallel_custom_item = True

    def __init__(self, *, test: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test  # synclab.kernel.stress.api.StressTest
        marks = getattr(test.cls, "pytestmark", [])  # @pytest.mark.skip and the like on the class
        for mark in marks if isinstance(marks, list) else [marks]:
            mark = getattr(mark, "mark", mark)  # a MarkDecorator holds its Mark
            if isinstance(mark, pytest.Mark):
                self.own_markers.append(mark)
                self.keywords[mark.name] = mark

    def run(self) -> Ran:
        """Run the test here, or, for a GIL state this process is not in, in a fresh interpreter."""
        from synclab.kernel import gil
        from synclab.kernel.stress.spec import DEFAULT_TIME_BUDGET_S, StressSpec

        chosen = self.config.stash[SETTINGS]
        budget = DEFAULT_TIME_BUDGET_S if chosen.time_budget_s is None else chosen.time_budget_s
        spec = StressSpec(f"{self.path}:{self.name}", time_budget_s=budget, gil=chosen.gil)
        python, _ = gil.target(spec)
        if python is None:
            from synclab.kernel.stress.engine import run_stress

            result = run_stress(self.test, time_budget_s=budget)
            return Ran(self.nodeid, result.to_dict(), _this_interpreter())
        from synclab.kernel.stress.remote import run

        envs: List[Dict[str, Any]] = []
        [result] = run(spec, on_env=envs.append)
        return Ran(self.nodeid, result.to_dict(), _interpreter(envs[0].get("python") or {}) if envs else python)

    def runtest(self) -> None:
        from synclab.reports.histogram import format_histogram, status, verdict

        ran = self.run()
        self.config.stash[RAN].append(ran)
        if status(ran.result) == "forbidden":
            message = format_histogram(ran.result, ran.interpreter)
            if ran.result.get("error"):
                message += "\n\nthe first traceback of an actor or the arbiter that raised:\n" + ran.result["error"]
            raise StressFailed(message, verdict(ran.result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The histogram, or the one line a bad test or setting gets: never this plugin's traceback."""
        from synclab.kernel.remote import RemoteError
        from synclab.kernel.spec import ConfigError
        from synclab.kernel.stress.api import StressError

        if isinstance(excinfo.value, StressFailed):
            path, line, _ = self.reportinfo()
            return Failure(str(excinfo.value), Crash(str(path), line, excinfo.value.summary))
        if isinstance(excinfo.value, (StressError, ConfigError, RemoteError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> Tuple[Any, Optional[int], str]:
        import inspect

        try:
            line: Optional[int] = inspect.getsourcelines(self.test.cls)[1] - 1
        except (OSError, TypeError):
            line = None
        return self.path, line, f"stress test {self.name}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Every stress test's verdict; the histogram for an interesting outcome (a forbidden one's is
    in its failure), and for every test with -v."""
    ran = config.stash.get(RAN, [])
    if not ran:
        return
    from synclab.reports.histogram import format_histogram, format_summary, status, verdict

    verbose = config.get_verbosity() > 0
    terminalreporter.write_sep("=", "synclab stress tests")
    for one in ran:
        if verbose or status(one.result) == "interesting":
            terminalreporter.write_line(format_histogram(one.result, one.interpreter) + "\n")
        else:
            terminalreporter.write_line(f"{one.nodeid}: {verdict(one.result)}")
    terminalreporter.write_line(format_summary([one.result for one in ran]))
