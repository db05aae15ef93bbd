"""Hera (hera-workflows 5.x) replacement for the old generated-bash script template: a container
template that runs the taskrunner image with the task in its environment. docs/argo.md shows the
minimal diff from the script template this replaces.

    from taskrunner_template import python_task_workflow
    python_task_workflow("print('hi')", python_deps="requests", system_deps="").create()
"""
from hera.workflows import (
    Artifact,
    Container,
    Env,
    ExistingVolume,
    NoneArchiveStrategy,
    Parameter,
    Steps,
    Workflow,
)

IMAGE = "registry.example.com/platform/taskrunner:1.0.0"

# Claims from images/k8s/cache-volumes.yaml and where the image expects them.
MOUNTS = {
    "uv-cache": ("taskrunner-uv-cache", "/root/.cache/uv"),
    "env-cache": ("taskrunner-env-cache", "/root/.cache/taskrunner"),
    "nix-store": ("taskrunner-nix-store", "/nix"),
    "results": ("taskrunner-results", "/mnt/results"),
}


def taskrunner_container(name: str = "run-task") -> Container:
    """The container template: no command, no args, no script — the image's ENTRYPOINT is
    taskrunner and it reads the task from these variables (README "Environment variables")."""
    return Container(
        name=name,
        image=IMAGE,
        inputs=[Parameter(name="python-code"), Parameter(name="python-deps", default=""),
                Parameter(name="system-deps", default=""), Parameter(name="use-cache", default="true"),
                # A rerun of exactly what ran (docs/locks.md): the path of an earlier run's lock.
                Parameter(name="requirements-lock", default=""),
                Artifact(name="requirements-lock", path="/mnt/inputs/requirements.lock",
                         optional=True)],
        env=[
            Env(name="PYTHON_CODE", value="{{inputs.parameters.python-code}}"),
            Env(name="PYTHON_DEPS", value="{{inputs.parameters.python-deps}}"),
            Env(name="SYSTEM_DEPS", value="{{inputs.parameters.system-deps}}"),
            Env(name="USE_CACHE", value="{{inputs.parameters.use-cache}}"),
            Env(name="REQUIREMENTS_LOCK", value="{{inputs.parameters.requirements-lock}}"),
            Env(name="ARGO_WORKFLOW_NAME", value="{{workflow.name}}"),
            Env(name="UV_CACHE_DIR", value="/root/.cache/uv"),
            Env(name="TASKRUNNER_ENV_CACHE", value="/root/.cache/taskrunner"),
            Env(name="NP_LOCATION", value="/nix"),
        ],
        # ExistingVolume: an existing PVC, mounted (pod volume + volumeMount in one).
        volumes=[ExistingVolume(name=v, claim_name=claim, mount_path=path)
                 for v, (claim, path) in MOUNTS.items()],
        termination_message_policy="FallbackToLogsOnError",
        outputs=[Artifact(name="checkpoints",
                          path="/mnt/results/{{workflow.name}}/checkpoints.json",
                          archive=NoneArchiveStrategy()),
                 Artifact(name="requirements-lock",
                          path="/mnt/results/{{workflow.name}}/requirements.lock",
                          optional=True, archive=NoneArchiveStrategy())],
    )


def python_task_workflow(code: str, python_deps: str = "", system_deps: str = "",
                         use_cache: bool = True, requirements_lock: str = "") -> Workflow:
    """`requirements_lock`: for a rerun, the path of the earlier run's lock on the results
    volume (/mnt/results/<workflow>/requirements.lock); empty resolves anew."""
    with Workflow(generate_name="python-task-", entrypoint="main", namespace="argo") as w:
        run = taskrunner_container()
        with Steps(name="main"):
            run(arguments={"python-code": code, "python-deps": python_deps,
                           "system-deps": system_deps, "use-cache": str(use_cache).lower(),
                           "requirements-lock": requirements_lock})
    return w
