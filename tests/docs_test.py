#!/usr/bin/python3
"""Keeps the README tables and docs/ true to the code: every environment variable the code reads,
every checkpoint id (in order), every exit code and every spec field must be documented."""
import glob
import json
import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as fh:
        return fh.read()


def sources():
    return "".join(read(p) for p in sorted(glob.glob(os.path.join(ROOT, "runner", "**", "*.cpp"), recursive=True)))


def checkpoint_table():
    """report::kCheckpoints from include/taskrunner/report/checkpoint.hpp: id, name, in_doctor,
    summary (adjacent string literals joined)."""
    header = read("include", "taskrunner", "report", "checkpoint.hpp")
    body = header[header.index("kCheckpoints = {{"):]
    body = body[:body.index("}};")]
    rows = []
    for m in re.finditer(r'\{Id::(\w+),\s*"([a-z_]+)",\s*(true|false),\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', body):
        summary = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(4)))
        rows.append({"id": m.group(1), "name": m.group(2), "in_doctor": m.group(3) == "true",
                     "summary": summary.replace('\\"', '"').replace("\\\\", "\\")})
    return rows


class DocsMatchCode(unittest.TestCase):
    def test_every_environment_variable_is_in_the_readme_table(self):
        src = sources()
        names = set(re.findall(r'util::get\([^,]+,\s*"([A-Z0-9_]+)"\)', src))
        loop = re.search(r'for \(const char\* var :\s*\{([^}]*)\}', src)
        names |= set(re.findall(r'"([A-Z0-9_]+)"', loop.group(1)))
        names -= {"PATH"}
        self.assertGreater(len(names), 20)
        readme = read("README.md")
        table = readme[readme.index("## Environment variables"):readme.index("## Exit codes")]
        for name in sorted(names):
            self.assertIn(f"`{name}`", table, name)

    def test_checkpoint_ids_in_order(self):
        table_rows = checkpoint_table()
        ids = [r["name"] for r in table_rows]
        self.assertEqual(len(ids), 11)
        readme = read("README.md")
        table = readme[readme.index("## Checkpoints"):readme.index("## Logs")]
        rows = re.findall(r"^\| (\d+) \| `([a-z_]+)` \| (.*) \|$", table, re.M)
        self.assertEqual([r[1] for r in rows], ids)
        self.assertEqual([int(r[0]) for r in rows], list(range(1, 12)))
        # The README's third column is the code's summary, word for word.
        self.assertEqual([r[2] for r in rows], [r["summary"] for r in table_rows])
        # Each checkpoint's code is in runner/app/steps/<id>.cpp.
        for cid in ids:
            self.assertTrue(os.path.exists(os.path.join(ROOT, "runner", "app", "steps", cid + ".cpp")), cid)
        doc = read("docs", "checkpoints.md")
        schema = json.loads(read("docs", "checkpoint.schema.json"))
        self.assertEqual(schema["$defs"]["id"]["enum"], ids)
        detail_rows = re.findall(r"^\| `([a-z_]+)` \| ", doc[doc.index("## Detail per checkpoint"):], re.M)
        self.assertEqual(detail_rows, ids)

    def test_exit_codes(self):
        codes = re.findall(r"inline constexpr int (\w+) = (\d+);", read("include", "taskrunner", "report", "error.hpp"))
        readme = read("README.md")
        table = readme[readme.index("## Exit codes"):readme.index("## Checkpoints")]
        for name, code in codes:
            if code == "0":
                continue
            self.assertRegex(table, re.compile(rf"^\| {code} \|", re.M), name)

    def test_hint_table_matches_docs(self):
        src = read("runner", "report", "hints.cpp")
        ids = re.findall(r'^\s*\{"([a-z_]+)",', src, re.M)
        enum = re.search(r"enum class Failure \{([^}]*)\}", read("include", "taskrunner", "report", "hints.hpp")).group(1)
        self.assertEqual(ids, re.findall(r"([a-z_]+),", enum))
        doc = read("docs", "hints.md")
        self.assertEqual(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M), ids)

    def test_spec_fields_match_schema_and_docs(self):
        fields = set(re.findall(r'key == "([a-z_]+)"', read("runner", "spec", "task_spec.cpp")))
        schema = json.loads(read("docs", "spec.schema.json"))
        self.assertEqual(set(schema["properties"]), fields)
        doc = read("docs", "spec.md")
        for f in fields:
            self.assertIn(f"`{f}`", doc)


if __name__ == "__main__":
    unittest.main()
