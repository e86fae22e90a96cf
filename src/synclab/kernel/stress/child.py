"""Entry point that runs stress tests inside another interpreter: ``python -m synclab.kernel.stress.child``.

Standard library only, like synclab.kernel.child. Reads one StressSpec as JSON on stdin; writes
JSON lines on stdout: the interpreter's environment capture, one line per test as it finishes,
then the end (or one error line, for anything that stops the run before or between tests).
"""

import json
import sys


def main() -> int:
    from synclab.kernel.env import capture
    from synclab.kernel.stress.api import StressError
    from synclab.kernel.stress.engine import run_spec
    from synclab.kernel.stress.spec import StressSpec

    out = sys.stdout

    def emit(kind: str, data: object) -> None:
        out.write(json.dumps({kind: data}) + "\n")
        out.flush()

    values = json.load(sys.stdin)
    values["python"] = None  # we are the interpreter that was asked for
    spec = StressSpec(**values)
    try:
        emit("env", capture(None))
        run_spec(spec, on_result=lambda result: emit("result", result.to_dict()))
    except StressError as error:
        emit("error", str(error))
        return 2
    emit("end", {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
