"""Entry point that runs an experiment inside another interpreter: ``python -m synclab.kernel.child``.

Standard library only (it runs under Python 3.8 and newer without synclab's dependencies).
Reads one ExperimentSpec as JSON on stdin; writes JSON lines on stdout: the interpreter's
own environment capture first, then one line per repeat as it finishes, then the end with
what the GIL did (kernel.gil).
"""

import json
import sys
from dataclasses import asdict


def main() -> int:
    from synclab.kernel.env import capture
    from synclab.kernel.runner import run_experiment
    from synclab.kernel.spec import ConfigError, ExperimentSpec

    out = sys.stdout
    values = json.load(sys.stdin)
    values["python"] = None  # we are the interpreter that was asked for
    spec = ExperimentSpec(**values)

    def emit(kind: str, data: object) -> None:
        out.write(json.dumps({kind: data}) + "\n")
        out.flush()

    try:
        env = capture(spec.start_method)
        if spec.switch_interval is not None:
            env["switch_interval"] = spec.switch_interval
        emit("env", env)
        result = run_experiment(spec, on_repeat=lambda run: emit("repeat", asdict(run)))
    except ConfigError as error:
        emit("error", str(error))
        return 2
    emit("end", {"gil_at_start": result.gil_at_start, "gil_reenabled_by": list(result.gil_reenabled_by)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
