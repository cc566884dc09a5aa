"""The layout of the Python tests themselves: no test script (tests/test_*.py)
imports another test script, and the harness (tests/harness/) imports none.

What two scripts share belongs in the harness. A script imported by
another is a hidden dependency: its module-level code runs in the importer
(constants picked for its own platform, an argv parser such as
test_soak.py's), a change made for one area breaks another, and splitting
or renaming a script breaks scripts that are not about it.

Imports are read from each file's syntax tree: `import X`, `from X import
...`, and calls that import by name or path (importlib.import_module,
__import__, runpy, importlib.util.spec_from_file_location). Running a
script as a separate process (test_package.py runs test_example.py) is not
an import and is allowed.

  sees_every_kind          the checker reports each kind of import of a test
                           script in a sample source, and none of the
                           allowed forms (so that a checker that sees
                           nothing cannot pass the real check)
  no_script_imports_another
                           every test script and harness module, checked

Run: python3 tests/test_imports.py (no iocpd needed).
"""

import sys

sys.dont_write_bytecode = True

import ast
import glob
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# Calls whose string arguments name a module or file to import.
IMPORTING_CALLS = {"import_module", "__import__", "run_module", "run_path",
                   "spec_from_file_location", "SourceFileLoader"}


def test_scripts():
    """The test scripts: {module name: path}."""
    return {os.path.splitext(os.path.basename(p))[0]: p
            for p in sorted(glob.glob(os.path.join(HERE, "test_*.py")))}


def harness_modules():
    return sorted(glob.glob(os.path.join(HERE, "harness", "*.py")))


def _named(text, scripts):
    """The test script a string names as a module (test_x, test_x.y) or as
    a file (.../test_x.py), or None."""
    base = os.path.basename(text)
    if base.endswith(".py"):
        base = base[:-3]
    else:
        base = text.split(".")[0]
    return base if base in scripts else None


def imports_of_scripts(source, filename, scripts):
    """[(line, what)] for every import of a module in scripts (a set of
    module names) found in source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in scripts:
                    found.append((node.lineno, "import %s" % alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] in scripts:
                found.append((node.lineno, "from %s import ..." % node.module))
            elif node.level > 0:
                for alias in node.names:
                    if alias.name in scripts:
                        found.append((node.lineno, "from %s import %s"
                                      % ("." * node.level + (node.module or ""), alias.name)))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else None
            if name not in IMPORTING_CALLS:
                continue
            # Any string in the arguments: a path is often built with
            # os.path.join(HERE, "test_x.py").
            for arg in node.args + [k.value for k in node.keywords]:
                for part in ast.walk(arg):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str) \
                            and _named(part.value, scripts):
                        found.append((node.lineno, "%s(... %r ...)" % (name, part.value)))
    return found


class ImportsTest(unittest.TestCase):

    def test_sees_every_kind(self):
        scripts = {"test_a", "test_b"}
        forbidden = [
            "import test_a",
            "import test_a as ta",
            "import os, test_b",
            "from test_a import Scope, limited",
            "from test_a.sub import x",
            "importlib.import_module('test_b')",
            "__import__('test_a')",
            "runpy.run_path(os.path.join(HERE, 'test_b.py'))",
            "runpy.run_path('tests/test_b.py')",
            "importlib.util.spec_from_file_location('x', '/src/tests/test_a.py')",
        ]
        for line in forbidden:
            with self.subTest(source=line):
                self.assertEqual(len(imports_of_scripts(line, "<sample>", scripts)), 1,
                                 "the checker misses: %s" % line)
        allowed = [
            "import harness as t",
            "from harness import upstreams as us",
            "from harness.scope import limited",
            "from . import scope",
            "import test_abc_not_a_script",
            "subprocess.run([sys.executable, os.path.join(HERE, 'test_a.py')])",
            "print('test_a')",
        ]
        for line in allowed:
            with self.subTest(source=line):
                self.assertEqual(imports_of_scripts(line, "<sample>", scripts), [],
                                 "the checker objects to: %s" % line)

    def test_no_script_imports_another(self):
        scripts = test_scripts()
        files = list(scripts.values()) + harness_modules()
        # The scan must see this very file and the harness, or it proves
        # nothing.
        self.assertIn(os.path.abspath(__file__), [os.path.abspath(p) for p in files])
        self.assertTrue(harness_modules(), "no tests/harness/*.py found")
        problems = []
        for path in files:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            for line, what in imports_of_scripts(source, path, set(scripts)):
                problems.append("%s:%d: %s" % (os.path.relpath(path, HERE), line, what))
        print("checked %d test scripts and %d harness modules"
              % (len(scripts), len(harness_modules())))
        self.assertEqual(problems, [], "test scripts imported by other files (move what "
                         "they share into tests/harness/):\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    unittest.main(verbosity=2)
