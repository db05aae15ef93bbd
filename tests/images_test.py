"""images/: every YAML file parses, and the Argo/Kubernetes fields taskrunner relies on match the
env contract in the README and the image's mount points. The Hera module is parsed (Hera is not
installable here) and checked for the same names."""
import ast
import glob
import os
import re
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOUNTS = {"/root/.cache/uv", "/root/.cache/taskrunner", "/nix", "/mnt/results"}


def readme_env_vars():
    with open(os.path.join(ROOT, "README.md")) as fh:
        text = fh.read()
    table = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))


def documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "images", "**", "*.yaml"), recursive=True)):
        with open(path) as fh:
            docs += [(path, d) for d in yaml.safe_load_all(fh) if d]
    return docs


class Manifests(unittest.TestCase):
    def setUp(self):
        self.docs = documents()
        self.by_kind = {}
        for path, d in self.docs:
            self.by_kind.setdefault(d["kind"], []).append(d)

    def test_every_yaml_file_parses_into_kubernetes_objects(self):
        self.assertGreaterEqual(len(self.docs), 9)
        for path, d in self.docs:
            self.assertIn("apiVersion", d, path)
            self.assertIn("kind", d, path)
            self.assertIn("name", d["metadata"], path)

    def test_claims_are_read_write_many_and_bound_to_a_volume(self):
        pvs = {pv["metadata"]["labels"]["taskrunner/volume"]: pv for pv in self.by_kind["PersistentVolume"]}
        for pvc in self.by_kind["PersistentVolumeClaim"]:
            self.assertEqual(pvc["spec"]["accessModes"], ["ReadWriteMany"])
            label = pvc["spec"]["selector"]["matchLabels"]["taskrunner/volume"]
            self.assertIn(label, pvs)
            self.assertEqual(pvs[label]["spec"]["accessModes"], ["ReadWriteMany"])
            self.assertEqual(pvs[label]["spec"]["storageClassName"], pvc["spec"]["storageClassName"])

    def test_workflow_template_matches_the_env_contract(self):
        (wt,) = self.by_kind["WorkflowTemplate"]
        claims = {c["metadata"]["name"] for c in self.by_kind["PersistentVolumeClaim"]}
        volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in wt["spec"]["volumes"]}
        self.assertLessEqual(set(volumes.values()), claims)
        (tmpl,) = [t for t in wt["spec"]["templates"] if "container" in t]
        c = tmpl["container"]
        self.assertNotIn("command", c)  # the image's ENTRYPOINT (taskrunner) runs
        self.assertNotIn("args", c)
        self.assertEqual(c["terminationMessagePolicy"], "FallbackToLogsOnError")
        env = {e["name"]: e["value"] for e in c["env"]}
        self.assertLessEqual(set(env), readme_env_vars())
        for name in ("PYTHON_CODE", "PYTHON_DEPS", "SYSTEM_DEPS", "ARGO_WORKFLOW_NAME"):
            self.assertIn(name, env)
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        self.assertEqual(set(mounts.values()), MOUNTS)
        self.assertLessEqual(set(mounts), set(volumes))
        self.assertEqual(env["UV_CACHE_DIR"], "/root/.cache/uv")
        self.assertEqual(env["TASKRUNNER_ENV_CACHE"], "/root/.cache/taskrunner")
        arts = {a["name"]: a["path"] for a in tmpl["outputs"]["artifacts"]}
        self.assertEqual(arts["checkpoints"], "/mnt/results/{{workflow.name}}/checkpoints.json")
        for p in tmpl["inputs"]["parameters"]:
            self.assertTrue(any("{{inputs.parameters.%s}}" % p["name"] in v for v in env.values()))

    def test_dockerfile_mount_points_and_entrypoint(self):
        with open(os.path.join(ROOT, "images", "Dockerfile")) as fh:
            text = fh.read()
        self.assertIn('ENTRYPOINT ["/usr/local/bin/taskrunner"]', text)
        self.assertIn("ARG BASE_IMAGE=python:3.11-slim", text)
        for path in MOUNTS:
            self.assertIn(path, text)


class Hera(unittest.TestCase):
    def test_hera_template_uses_the_same_names(self):
        with open(os.path.join(ROOT, "images", "hera", "taskrunner_template.py")) as fh:
            tree = ast.parse(fh.read())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        env_names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Env":
                env_names |= {k.value.value for k in node.keywords if k.arg == "name"}
        self.assertLessEqual(env_names, readme_env_vars())
        self.assertIn("PYTHON_CODE", env_names)
        self.assertLessEqual(MOUNTS, strings)
        self.assertIn("FallbackToLogsOnError", strings)
        claims = {c["metadata"]["name"] for path, c in documents() if c["kind"] == "PersistentVolumeClaim"}
        self.assertLessEqual({s for s in strings if s.startswith("taskrunner-")}, claims)


if __name__ == "__main__":
    unittest.main()
