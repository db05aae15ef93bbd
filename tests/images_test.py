"""images/: every YAML file parses, is valid against Kubernetes' and Argo Workflows' published
schemas (tests/k8s-schema: npm's kubernetes-models and @kubernetes-models/argo-workflows, pinned by
its package-lock.json, run by Debian's Node.js), and the Argo/Kubernetes fields taskrunner relies
on match the env contract in the README and the image's mount points. The Hera module is parsed
(Hera is not installable here) and checked for the same names."""
import ast
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_CHECK = os.path.join(ROOT, "tests", "k8s-schema", "check.mjs")
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


def schema_check(*files):
    return subprocess.run(["node", SCHEMA_CHECK, *files], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


class Schemas(unittest.TestCase):
    """The shipped manifests pass; a misspelt field or a wrong type injected into a copy fails,
    naming the document and the field."""

    def setUp(self):
        if not (shutil.which("node") and os.path.isdir(os.path.join(ROOT, "tests", "k8s-schema",
                                                                     "node_modules"))):
            self.fail("the schema check needs Node.js and `npm ci --prefix tests/k8s-schema` "
                      "(tests/install-deps.sh)")
        self.tmp = tempfile.mkdtemp(prefix="taskrunner-k8s-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def manifests(self):
        return sorted(glob.glob(os.path.join(ROOT, "images", "k8s", "*.yaml")))

    def test_shipped_manifests_pass(self):
        p = schema_check(*self.manifests())
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(" 0 problems", p.stdout)

    def injected(self, name, old, new):
        with open(os.path.join(ROOT, "images", "k8s", name)) as fh:
            text = fh.read()
        self.assertIn(old, text)
        path = os.path.join(self.tmp, name)
        with open(path, "w") as fh:
            fh.write(text.replace(old, new, 1))
        p = schema_check(path)
        self.assertEqual(p.returncode, 1, p.stdout)
        return p.stdout

    def test_injected_typos_fail(self):
        out = self.injected("workflow-template.yaml", "imagePullPolicy:", "imagePulPolicy:")
        self.assertIn("WorkflowTemplate taskrunner-python-task", out)
        self.assertIn("imagePulPolicy", out)
        out = self.injected("cache-volumes.yaml", "accessModes:", "acessModes:")
        self.assertIn("acessModes", out)
        out = self.injected("workflow-template.yaml", "mountPath: /mnt/results", "mountPath: [1]")
        self.assertIn("mountPath", out)
        out = self.injected("workflow-template.yaml", "activeDeadlineSeconds: 3600",
                            "activeDeadlineSeconds: {seconds: 3600}")
        self.assertIn("activeDeadlineSeconds", out)


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
        # The run's lock goes out; a rerun's lock comes in (docs/locks.md).
        self.assertEqual(arts["requirements-lock"], "/mnt/results/{{workflow.name}}/requirements.lock")
        self.assertEqual(env["REQUIREMENTS_LOCK"], "{{inputs.parameters.requirements-lock}}")
        (lock_in,) = tmpl["inputs"]["artifacts"]
        self.assertTrue(lock_in["optional"])
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
