"""The deployment files (deploy/) agree with the code they deploy.

Nothing here starts a cluster or a unit: the manifests are checked against
Kubernetes' own JSON schemas (the kubernetes-validate package ships them, so this
runs offline), and every command, script and setting the files name is looked up in
this checkout -- a renamed command, script or environment variable fails here rather
than in a class's first deployment.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import dj_database_url
import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, get_commands, load_command_class

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "Containerfile"
# Where the units expect the checkout, and where the image puts it (its WORKDIR).
INSTALL_DIR = "/opt/virtlab"
# Our image's name in the manifests (kustomization.yaml's `images:` maps it).
IMAGE = "virtlab"
# The oldest Kubernetes the manifests are meant for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
# Variables in our image that programs other than virtlab read.
READ_BY_OTHERS = {
    "DEBIAN_FRONTEND": "apt-get, while the image is built",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip, while the image is built",
    "PYTHONUNBUFFERED": "Python: logs reach the container runtime at once",
}
# The only node paths a pod may mount, each explained where it is mounted.
HOST_PATHS = {"/sys/fs/cgroup", "/run/virtlab/sandboxes"}
LAB_HOST_LABEL = "virtlab.io/lab-host"
# The task backends the deployment runs with: the test suite switches every test to
# the immediate backend (tests/conftest.py), whose queues db_worker's parser rejects.
DEPLOYED_TASKS = settings.TASKS


@pytest.fixture(autouse=True)
def _deployed_task_backends(settings):
    settings.TASKS = DEPLOYED_TASKS


# --- reading the files -------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(path for path in KUBERNETES.rglob("*.yaml") if path.name != "kustomization.yaml")


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def all_documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in manifest_files() for doc in documents(path)]


def pod_spec(doc: dict) -> dict | None:
    spec = doc.get("spec", {})
    if doc["kind"] in {"Deployment", "DaemonSet", "StatefulSet", "Job"}:
        return spec["template"]["spec"]
    return None


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod.get("containers", [])


def our_containers() -> list[tuple[str, dict, dict]]:
    """(where, container, its pod spec) for every container running virtlab's image."""
    found = []
    for path, doc in all_documents():
        pod = pod_spec(doc)
        for container in containers(pod) if pod else []:
            if container["image"] == IMAGE:
                where = f"{path.relative_to(ROOT)}: {doc['metadata']['name']}/{container['name']}"
                found.append((where, container, pod))
    return found


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}:{number}: {line!r}"
        values[key] = value
    return values


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}} (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            current = sections.setdefault(stripped.strip("[]"), {})
            continue
        key, _, value = stripped.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_files() -> list[Path]:
    return sorted(SYSTEMD.glob("*.service"))


def containerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in CONTAINERFILE.read_text().splitlines() if not line.startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (match[1].upper(), match[2].strip())
        for match in re.finditer(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)
    ]


def containerfile_env() -> dict[str, str]:
    values = {}
    for instruction, arguments in containerfile_instructions():
        if instruction == "ENV":
            values.update(item.split("=", 1) for item in shlex.split(arguments))
    return values


# --- what the checkout has -----------------------------------------------------------


def check_manage_py(argv: list[str]) -> str | None:
    """Why ``manage.py argv...`` would fail to start here (None when it would not):
    an unknown command, or arguments its parser refuses."""
    if not argv:
        return "manage.py without a command"
    name, arguments = argv[0], argv[1:]
    app = get_commands().get(name)
    if app is None:
        return f"manage.py has no command {name!r}"
    parser = load_command_class(app, name).create_parser("manage.py", name)
    try:
        parser.parse_args(arguments)
    except (CommandError, SystemExit):
        return f"manage.py {name} refuses {arguments}"
    return None


def check_script(path: str) -> str | None:
    script = ROOT / path
    if not script.is_file():
        return f"{path} is not in the repository"
    if not os.access(script, os.X_OK):
        return f"{path} is not executable"
    return None


def check_command_line(argv: list[str]) -> list[str]:
    """Problems with one command line run from the checkout's root (the units' and
    the image's working directory)."""
    if argv[:2] == [".venv/bin/python", "manage.py"]:
        return [problem] if (problem := check_manage_py(argv[2:])) else []
    if argv[0].startswith("scripts/"):
        return [problem] if (problem := check_script(argv[0])) else []
    if argv[0] == ".venv/bin/python" and argv[1].startswith("scripts/"):
        return [] if (ROOT / argv[1]).is_file() else [f"{argv[1]} is not in the repository"]
    return [f"{shlex.join(argv)} runs neither manage.py nor a script of ours"]


def check_shell(script: str) -> list[str]:
    """Every command of a shell line (split at &&, ||, ;): each must be ours."""
    problems = []
    for part in re.split(r"&&|\|\||;", script):
        argv = shlex.split(part)
        if argv and argv != ["true"]:
            problems += check_command_line(argv)
    return problems


def read_by_virtlab() -> str:
    """The source that could read an environment variable: our Python (tests and
    benchmarks aside) and shell scripts."""
    skip = {".venv", "var", "tests", "bench", "node_modules", ".git"}
    texts = []
    for path in ROOT.rglob("*.py"):
        if not skip & set(path.relative_to(ROOT).parts):
            texts.append(path.read_text())
    for path in (ROOT / "scripts").iterdir():
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def is_read(name: str, source: str) -> bool:
    if name == "DATABASE_URL":
        # settings.py hands it to dj_database_url.config(), which reads this variable.
        return inspect.signature(dj_database_url.config).parameters["env"].default == name
    quoted = re.search(rf"""["']{name}["']""", source)
    in_shell = re.search(rf"\$\{{?{name}\b", source)
    return bool(quoted or in_shell)


# --- Kubernetes ----------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_a_valid_kubernetes_object(version):
    """Each document's kind and apiVersion exist in that Kubernetes release, and its
    fields match the schema exactly (strict: an unknown or misspelt field fails)."""
    problems = []
    kinds = set()
    for path, doc in all_documents():
        kinds.add(doc["kind"])
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.utils.SchemaNotFoundError as error:
            problems.append(f"{path.name}: {error.message}")
        except kubernetes_validate.utils.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{path.name}: {doc['kind']} {where}: {error.message}")
    assert problems == []
    assert kinds >= {
        "Namespace", "ConfigMap", "Deployment", "Service", "DaemonSet", "StatefulSet",
        "Job", "Ingress",
    }  # fmt: skip


def test_the_kustomizations_cover_every_manifest_and_keep_secrets_out_of_git():
    listed = set()
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        assert spec["kind"] == "Kustomization"
        for resource in spec.get("resources", []):
            path = kustomization.parent / resource
            assert path.is_file(), f"{kustomization}: {resource} is missing"
            listed.add(path)
        for generator in spec.get("secretGenerator", []):
            for name in generator.get("envs", []):
                secrets = kustomization.parent / name
                assert secrets.with_name(secrets.name + ".example").is_file()
                ignored = subprocess.run(
                    ["git", "check-ignore", "-q", str(secrets)], cwd=ROOT, check=False
                )
                assert ignored.returncode == 0, f"{secrets} is not git-ignored"
    assert listed == set(manifest_files())


def test_every_container_of_ours_runs_a_command_or_script_that_exists():
    image_var = containerfile_env()["VIRTLAB_VAR"]
    problems = []
    commands = []
    for where, container, _pod in our_containers():
        argv = container["command"]
        commands.append(argv)
        if argv[0] == "cp":
            # Seeds a pod's var volume with what the image built into VIRTLAB_VAR.
            if argv[1:3] != ["-a", f"{image_var}/."]:
                problems.append(f"{where}: copies {argv[2]}, not the image's {image_var}")
        elif argv[:2] == ["sh", "-c"]:
            problems += [f"{where}: {p}" for p in check_shell(argv[2])]
        else:
            problems += [f"{where}: {p}" for p in check_command_line(argv)]
    assert problems == []
    named = {" ".join(argv) for argv in commands}
    for role in ("scripts/serve-web", "terminal_host", "scripts/lab-workers", "migrate"):
        assert any(role in command for command in named), f"nothing runs {role}"


def test_every_environment_variable_given_to_virtlab_is_one_it_reads():
    source = read_by_virtlab()
    config_maps = {
        doc["metadata"]["name"]: doc.get("data", {})
        for _path, doc in all_documents()
        if doc["kind"] == "ConfigMap"
    }
    secrets = {"virtlab-secrets": env_file(KUBERNETES / "secrets.env.example")}
    given: dict[str, set[str]] = {}
    for where, container, _pod in our_containers():
        env = container.get("env", [])
        # A variable only there to be put into another's value, $(NAME).
        substituted = {
            name for item in env for name in re.findall(r"\$\((\w+)\)", item.get("value", ""))
        }
        for item in env:
            if item["name"] not in substituted:
                given.setdefault(item["name"], set()).add(where)
        for source_ref in container.get("envFrom", []):
            if ref := source_ref.get("configMapRef"):
                names = config_maps[ref["name"]]
            else:
                names = secrets[source_ref["secretRef"]["name"]]
            for name in names:
                given.setdefault(name, set()).add(where)
    for name in env_file(SYSTEMD / "virtlab.env.example"):
        given.setdefault(name, set()).add("virtlab.env.example")
    for name in containerfile_env():
        if name not in READ_BY_OTHERS:
            given.setdefault(name, set()).add("Containerfile")
    unread = {name: sorted(where) for name, where in given.items() if not is_read(name, source)}
    assert unread == {}
    assert {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "VIRTLAB_HTTPS"} <= set(given)


def test_privileged_pods_run_only_on_lab_nodes_with_the_documented_host_paths():
    privileged = 0
    for path, doc in all_documents():
        pod = pod_spec(doc)
        if pod is None:
            continue
        mounted = {v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v}
        assert mounted <= HOST_PATHS, f"{path.name}: {mounted - HOST_PATHS}"
        assert not pod.get("hostPID") and not pod.get("hostNetwork")
        if any(c.get("securityContext", {}).get("privileged") for c in containers(pod)):
            privileged += 1
            assert pod["nodeSelector"] == {LAB_HOST_LABEL: "true"}, path.name
    assert privileged == 2  # the lab workers, and the web pod's terminal host


def test_the_web_container_itself_holds_no_privilege():
    (web,) = [c for where, c, _ in our_containers() if c["command"] == ["scripts/serve-web"]]
    context = web["securityContext"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["allowPrivilegeEscalation"] is False
    assert not context.get("privileged")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_valid_objects(tmp_path):
    """`kubectl kustomize` (what `kubectl apply -k` applies) renders each
    kustomization from the examples, and what it renders is valid too."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    for example in tree.rglob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    rendered = []
    for kustomization in sorted(tree.rglob("kustomization.yaml")):
        done = subprocess.run(
            ["kubectl", "kustomize", str(kustomization.parent)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        rendered += [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)
        assert doc["metadata"].get("namespace", "virtlab") == "virtlab"
    images = {
        container["image"]
        for doc in rendered
        if (pod := pod_spec(doc))
        for container in containers(pod)
    }
    assert IMAGE not in images  # kustomization.yaml's `images:` rewrote every one


# --- systemd -------------------------------------------------------------------------


def test_the_units_run_scripts_and_commands_that_exist():
    problems = []
    for unit in unit_files():
        service = unit_file(unit)["Service"]
        assert service["WorkingDirectory"] == [INSTALL_DIR], unit.name
        assert service["EnvironmentFile"] == ["/etc/virtlab/virtlab.env"], unit.name
        for key in ("ExecStartPre", "ExecStart"):
            for line in service.get(key, []):
                argv = shlex.split(line.lstrip("-"))
                assert argv[0].startswith(f"{INSTALL_DIR}/"), f"{unit.name}: {line}"
                argv[0] = argv[0].removeprefix(f"{INSTALL_DIR}/")
                problems += [f"{unit.name}: {p}" for p in check_command_line(argv)]
    assert problems == []
    assert {unit.name for unit in unit_files()} == {
        "virtlab-web.service", "virtlab-terminals.service", "virtlab-lab-worker@.service",
        "virtlab-tasks.service",
    }  # fmt: skip


def test_the_web_unit_keeps_writable_only_the_var_its_environment_names():
    web = unit_file(SYSTEMD / "virtlab-web.service")["Service"]
    assert web["ProtectSystem"] == ["strict"]
    assert web["CapabilityBoundingSet"] == [""]
    assert web["StateDirectory"] == ["virtlab"]
    assert env_file(SYSTEMD / "virtlab.env.example")["VIRTLAB_VAR"] == "/var/lib/virtlab"


def test_the_environment_example_reads_the_same_in_systemd_and_sh():
    for name, value in env_file(SYSTEMD / "virtlab.env.example").items():
        assert not re.search(r"""[\s"'$\\`]""", value), f"{name}={value}"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_verifies_the_units(tmp_path):
    """`systemd-analyze verify` on copies pointing at this checkout: it refuses
    unknown keys and bad values, and checks each command is executable."""
    names = []
    for unit in unit_files():
        text = unit.read_text().replace(INSTALL_DIR, str(ROOT))
        (tmp_path / unit.name).write_text(text)
        names.append(unit.name.replace("@.service", "@1.service"))
    done = subprocess.run(
        ["systemd-analyze", "verify", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (0, "")


# --- the image -----------------------------------------------------------------------


def test_the_containerfile_builds_from_this_checkout():
    instructions = containerfile_instructions()
    (base,) = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    # Debian, with a Python Django 6 can run on.
    match = re.fullmatch(r"\S+/python:3\.(\d+)-slim-(bookworm|trixie)", base)
    assert match and int(match[1]) >= 12, base
    assert ("WORKDIR", INSTALL_DIR) in instructions
    problems = []
    for instruction, arguments in instructions:
        if instruction == "COPY":
            for source in shlex.split(arguments)[:-1]:
                if source != "." and not (ROOT / source).exists():
                    problems.append(f"COPY {source}: not in the repository")
        if instruction == "RUN":
            for part in re.split(r"&&", arguments):
                argv = shlex.split(part)
                if argv and any(arg.startswith("scripts/") or arg == "manage.py" for arg in argv):
                    problems += check_command_line(argv)
                    if argv[0] == "scripts/host-packages":
                        assert argv[1:] == ["run"]
    assert problems == []
    run = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    for step in ("scripts/host-packages run", "build_guest_assets", "collectstatic"):
        assert step in run
    assert containerfile_env()["VIRTLAB_VAR"] == "/var/lib/virtlab"


# --- the reverse proxy ---------------------------------------------------------------


def test_the_proxies_accept_a_whole_course_zip_and_reach_the_web_server():
    """nginx (systemd hosts) and the Ingress let the largest course zip through (with
    room for the multipart envelope), and nginx proxies to the port the web unit uses."""
    from courseware.authoring import coursezip

    conf = (DEPLOY / "nginx" / "virtlab.conf").read_text()
    (body,) = re.findall(r"client_max_body_size (\d+)m;", conf)
    ingress = yaml.safe_load((KUBERNETES / "ingress.yaml").read_text())
    annotated = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    for megabytes in (int(body), int(annotated.removesuffix("m"))):
        assert megabytes * 10**6 > coursezip.MAX_UPLOAD_BYTES + 2**20
    port = env_file(SYSTEMD / "virtlab.env.example")["VIRTLAB_PORT"]
    assert re.findall(r"proxy_pass http://127\.0\.0\.1:(\d+);", conf) == [port]


@pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("openssl") is None,
    reason="nginx or openssl is not installed",
)
def test_nginx_accepts_the_site_configuration(tmp_path):
    """`nginx -t` on the site file, inside a minimal main configuration, with a
    throwaway certificate where the real one would be."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=virtlab.example.edu", "-keyout", str(tmp_path / "privkey.pem"),
         "-out", str(tmp_path / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "virtlab.conf").read_text()
    (tmp_path / "site.conf").write_text(site.replace("/etc/ssl/virtlab", str(tmp_path)))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n"
    )
    done = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
