#!/usr/bin/env python3
"""scripts/docs-sync on small made-up trees: what --check accepts, what it
refuses, and that a rewrite brings a drifted page back in sync."""

import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "docs-sync"

SNIPPET = """\
// [snippet:hello]
int hello() { return 1; }
// [end]
"""

PAGE = """\
# Page

<!-- snippet: docs/snippets/page.cpp#hello -->
```cpp
int hello() { return 1; }
```

```text
output, not code
```
"""


class DocsSync(unittest.TestCase):
    def setUp(self):
        self.root = pathlib.Path(tempfile.mkdtemp())
        (self.root / "scripts").mkdir()
        shutil.copy(SCRIPT, self.root / "scripts" / "docs-sync")
        (self.root / "docs" / "snippets").mkdir(parents=True)
        self.write("docs/snippets/page.cpp", SNIPPET)
        self.write("docs/CMakeLists.txt", "keel_docs_snippets(core snippets/page.cpp)\n")
        self.write("docs/page.md", PAGE)
        self.write("README.md", "# readme\n")

    def tearDown(self):
        shutil.rmtree(self.root)

    def write(self, path, text):
        (self.root / path).write_text(text)

    def run_sync(self, *args):
        return subprocess.run([sys.executable, str(self.root / "scripts" / "docs-sync"), *args],
                              capture_output=True, text=True)

    def test_a_page_in_sync_passes(self):
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_drifted_block_fails_and_a_rewrite_fixes_it(self):
        self.write("docs/page.md", PAGE.replace("return 1;", "return 2;"))
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("differs from its snippet", result.stderr)
        self.assertEqual(self.run_sync().returncode, 0)
        self.assertEqual((self.root / "docs" / "page.md").read_text(), PAGE)

    def test_a_code_block_without_a_snippet_fails(self):
        self.write("docs/page.md", PAGE + "\n```yaml\nversion: 1\n```\n")
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("```yaml block without", result.stderr)

    def test_a_block_without_a_language_fails(self):
        self.write("docs/page.md", PAGE + "\n```\nsomething\n```\n")
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("without a language", result.stderr)

    def test_a_region_on_no_page_fails(self):
        self.write("docs/snippets/page.cpp", SNIPPET + "// [snippet:unused]\nint x;\n// [end]\n")
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("region 'unused' is on no page", result.stderr)

    def test_a_cpp_snippet_the_build_does_not_compile_fails(self):
        self.write("docs/CMakeLists.txt", "\n")
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("not compiled by docs/CMakeLists.txt", result.stderr)

    def test_a_region_is_dedented_and_inner_markers_left_out(self):
        self.write("docs/snippets/page.cpp",
                   "void f() {\n    // [snippet:hello]\n    int hello() { return 1; }\n"
                   "    // [snippet:inner]\n    // [end]\n    // [end]\n}\n")
        self.write("docs/page.md", PAGE + "\n<!-- snippet: docs/snippets/page.cpp#inner -->\n"
                   "```cpp\n```\n")
        result = self.run_sync("--check")
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main()
