"""What the live test scripts share: a tally of named checks that prints one line per check."""
import sys


class Checks:
    def __init__(self, label="", detail_limit=None):
        self.label, self.passed, self.failed = label, 0, 0
        self.detail_limit = detail_limit

    def check(self, condition, name, detail=""):
        if condition:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed += 1
            text = str(detail)
            if self.detail_limit is not None:
                text = text[:self.detail_limit]
            print(f"  FAIL {name} {text}")
        sys.stdout.flush()
        return condition
