"""Small stress tests as source text, written into a test's directory: one that passes and one
whose arbiter returns an outcome its declaration forbids (on every sample, on any interpreter)."""

from pathlib import Path

PASSING = '''
import synclab

@synclab.stress(outcomes={"1": synclab.ACCEPTABLE("the actor's write is seen")})
class WriteThenRead{suffix}:
    """One actor writes, the arbiter reads."""
    def __init__(self):
        self.x = 0
    def actor1(self):
        self.x = 1
    def arbiter(self):
        return self.x
'''

FORBIDDEN = '''
import synclab

@synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
class AlwaysTwo{suffix}:
    """The arbiter returns what the declaration forbids."""
    def actor1(self):
        pass
    def arbiter(self):
        return 2
'''


def write_tests(path: Path, *templates: str, suffix: str = "") -> Path:
    """The templates as one module at path, each class name ending in suffix (unique per test)."""
    path.write_text("\n".join(template.replace("{suffix}", suffix) for template in templates))
    return path
