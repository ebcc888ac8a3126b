"""Offline checks of k8s/: every overlay renders, every object is valid Kubernetes, and the pattern holds.

The pattern (k8s/README.md): per service one image and one Deployment per long-running process (PROCESSES:
gRPC APIs, HTTP APIs and Kafka consumers), plus CronJobs for its scheduled jobs (JOBS); pods non-root with a
read-only root filesystem and no privileges; requests and limits; gRPC probes for gRPC APIs, /healthz probes
for HTTP APIs, /metrics probes for consumers; a PodDisruptionBudget per Deployment; Services whose ports reach
real container ports; each process given exactly the secrets it reads, only by reference (the dev overlay's
fake values excepted); CronJobs that never overlap and always end; and in prod autoscaling that never scales
a consumer past its topic's partition count. Where the service packages are installed, the manifests are also
checked against their settings modules (every required variable set, secrets as secrets, no unknown names).

Every check is a function returning a list of problems, so that the tests at the bottom can prove each check
fails on a manifest that breaks the pattern. Rendering uses tests/k8s/kustomize_lite.py; when kubectl (or
kustomize) is on PATH, the overlays are rendered by it too and must give the same objects.

Needs: pytest, PyYAML, kubernetes-validate (schemas ship with it; nothing is fetched).
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
K8S = ROOT / "k8s"
TOPIC_CATALOG = ROOT / "services" / "common" / "src" / "sotong_common" / "topics.yaml"

OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the manifests promise to work on (gRPC probes are GA since 1.27, matchLabelKeys on
# by default since 1.27, CronJob timeZone GA since 1.27) and the newest schema kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kv_utils.latest_version())
# Custom resources: no schema ships for them; they get their own checks below.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
UID = 10001
GRPC_PORT = 50051
HTTP_PORT = 8080
METRICS_PORT = 9464

# Each service's long-running processes (Deployment <svc>-<process>, command sotong-<svc>-<process>) and what
# they serve: "grpc" (gRPC API: native gRPC probes, Service port grpc, HPA on CPU), "http" (HTTP API: /healthz
# probes, Service port http, HPA on CPU), "consumer" (Kafka consumer: /metrics probes, KEDA on lag).
PROCESSES: dict[str, dict[str, str]] = {
    "intake": {"api": "grpc", "http": "http", "worker": "consumer"},
    "moderation": {"api": "grpc", "worker": "consumer"},
    "alerting": {"api": "grpc", "worker": "consumer", "dispatch": "consumer"},
}
# Scheduled jobs: CronJob <svc>-<job>, command sotong-<svc>-<job>.
JOBS: dict[str, tuple[str, ...]] = {"intake": ("purge",)}
SERVICES = tuple(PROCESSES)

DB, JWT = "SOTONG_DATABASE_URL", "SOTONG_JWT_SECRET"
CONTACT_KEYS = "SOTONG_INTAKE_CONTACT_KEYS"
WEBHOOK_SECRETS = "SOTONG_INTAKE_WEBHOOK_SECRETS"
OPEN311_KEYS = "SOTONG_INTAKE_OPEN311_API_KEYS"
KAKAO_TOKEN = "SOTONG_INTAKE_KAKAO_SKILL_TOKEN"
DISPATCH_TOKEN = "SOTONG_ALERTING_DISPATCH_TOKEN"
# The secrets each workload reads (from the settings modules; test_manifests_match_the_settings_modules keeps
# this table true). A workload gets exactly these, each through a secretKeyRef; none it does not read.
SECRETS_READ: dict[str, set[str]] = {
    "intake-api": {DB, JWT, CONTACT_KEYS},
    "intake-http": {DB, CONTACT_KEYS, WEBHOOK_SECRETS, OPEN311_KEYS, KAKAO_TOKEN},
    "intake-worker": {DB, CONTACT_KEYS},
    "intake-purge": {DB},
    "moderation-api": {DB, JWT},
    "moderation-worker": {DB},
    "alerting-api": {DB, JWT},
    "alerting-worker": {DB},
    "alerting-dispatch": {DB, DISPATCH_TOKEN},
}
# Secrets with a safe default in the code (unset = that door stays closed), which a Secret may leave out.
OPTIONAL_SECRETS = {WEBHOOK_SECRETS, OPEN311_KEYS, KAKAO_TOKEN}
SECRET_ENV = set().union(*SECRETS_READ.values())
# The publishing engine's consumer groups: one per channel and lane (sotong_publishing.lanes.group_id).
DISPATCH_CHANNELS = ("chat", "pager", "mail", "notice", "sns", "push", "kakao", "sms")
DISPATCH_LANES = {"emergency": "alerting.dispatch-emergency.v1", "routine": "alerting.dispatch-routine.v1"}
DEV_SECRET_MARKER = "dev-only"
STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")


def _load_renderer() -> Any:
    # loaded by path: the repository runs pytest with --import-mode=importlib, so this folder is not on sys.path
    spec = importlib.util.spec_from_file_location("sotong_kustomize_lite", HERE / "kustomize_lite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kustomize_lite = _load_renderer()

Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """Every overlay and every service base, rendered once."""
    out = {name: kustomize_lite.render(K8S / "overlays" / name) for name in OVERLAYS}
    out.update({f"base/{svc}": kustomize_lite.render(K8S / "base" / svc) for svc in SERVICES})
    return out


def _external_kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def _comparable(objects: list[Obj]) -> dict[tuple[str, str, str], Obj]:
    """Key objects by kind/namespace/name; Secret data decoded (kustomize wraps base64 lines, we don't)."""
    out = {}
    for obj in objects:
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Secret":
            obj["data"] = {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}
        meta = obj["metadata"]
        out[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    return out


# ------------------------------------------------------------------------------------------------ helpers


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_template(workload: Obj) -> Obj:
    """The pod template of a Deployment or a CronJob."""
    if workload["kind"] == "CronJob":
        template: Obj = workload["spec"]["jobTemplate"]["spec"]["template"]
        return template
    template = workload["spec"]["template"]
    return template


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in {"Deployment", "CronJob"}]


def containers_of(workload: Obj) -> list[Obj]:
    found: list[Obj] = pod_template(workload)["spec"].get("containers", [])
    return found


def pod_labels(workload: Obj) -> dict[str, str]:
    return dict(pod_template(workload)["metadata"].get("labels", {}))


def container_ports(deployment: Obj) -> dict[str | int, int]:
    """Port name and number -> number, over all containers."""
    ports: dict[str | int, int] = {}
    for container in containers_of(deployment):
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(resource: str, value: Any) -> float:
    text = str(value)
    if resource == "cpu":
        match = _CPU.match(text)
        if not match:
            raise ValueError(f"bad cpu quantity {text!r}")
        return float(match.group(1)) / (1000 if match.group(2) else 1)
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"bad memory quantity {text!r}")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def role_of(workload: Obj) -> tuple[str, str] | None:
    """('intake', 'api') for Deployment/intake-api, ('intake', 'purge') for CronJob/intake-purge, else None."""
    name = workload["metadata"]["name"]
    table: dict[str, Any] = PROCESSES if workload["kind"] == "Deployment" else JOBS
    for svc, names in table.items():
        for process in names:
            if name == f"{svc}-{process}":
                return svc, process
    return None


def serves(deployment: Obj) -> str | None:
    """'grpc', 'http' or 'consumer' for a Deployment in the pattern."""
    role = role_of(deployment)
    return PROCESSES[role[0]][role[1]] if role and deployment["kind"] == "Deployment" else None


# ------------------------------------------------------------------------------------------------- checks


def check_pod(workload: Obj, objects: list[Obj]) -> list[str]:
    """What every Sotong pod shares, Deployment or CronJob: labels, pod security, account, one safe container."""
    where = f"{workload['kind']}/{workload['metadata']['name']}"
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    role = role_of(workload)
    if role is None:
        return [f"{where}: not one of the pattern's processes or jobs ({sorted(PROCESSES)}, {sorted(JOBS)})"]
    svc, process = role
    template = pod_template(workload)
    pod = template["spec"]
    labels = pod_labels(workload)

    for obj_labels, what in ((workload["metadata"].get("labels", {}), "metadata"), (labels, "pod template")):
        for key in STANDARD_LABELS:
            if key not in obj_labels:
                problem(f"{what} lacks label {key}")
    if labels.get("app.kubernetes.io/name") != svc or labels.get("app.kubernetes.io/component") != process:
        problem(f"pod labels {labels} do not say name={svc}, component={process}")

    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        problem("pod securityContext.runAsNonRoot is not true")
    if pod_security.get("runAsUser") != UID:
        problem(f"pod securityContext.runAsUser is not {UID}")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem("pod seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problem("automountServiceAccountToken is not false")
    account = named(objects, "ServiceAccount", pod.get("serviceAccountName", ""))
    if account is None:
        problem(f"ServiceAccount {pod.get('serviceAccountName')!r} is not rendered with it")
    elif account.get("automountServiceAccountToken") is not False:
        problem(f"ServiceAccount {account['metadata']['name']} mounts its token")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problem("uses the host's namespaces")

    containers = pod.get("containers", [])
    if len(containers) != 1:
        problem(f"has {len(containers)} containers; the pattern is one process per pod")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in containers:
        problems.extend(check_container(workload, svc, process, container, volumes))
    return problems


def check_container(workload: Obj, svc: str, process: str, container: Obj, volumes: dict[str, Obj]) -> list[str]:
    """Command, image, security context, resources, scratch space and secrets of any pattern container."""
    name = workload["metadata"]["name"]
    where = f"{workload['kind']}/{name} container {container.get('name')}"
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    if container.get("command") != [f"sotong-{svc}-{process}"]:
        problem(f"command {container.get('command')} is not [sotong-{svc}-{process}]")
    if not str(container.get("image", "")).split(":")[0].split("@")[0].endswith(f"sotong/{svc}"):
        problem(f"image {container.get('image')} is not the {svc} image")

    security = container.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        problem("securityContext.runAsNonRoot is not true")
    if security.get("runAsUser", UID) != UID:
        problem(f"securityContext.runAsUser is not {UID}")
    if security.get("readOnlyRootFilesystem") is not True:
        problem("root filesystem is not read-only")
    if security.get("allowPrivilegeEscalation") is not False:
        problem("allowPrivilegeEscalation is not false")
    if security.get("privileged"):
        problem("is privileged")
    if security.get("capabilities", {}).get("drop") != ["ALL"] or security.get("capabilities", {}).get("add"):
        problem("capabilities are not exactly drop: [ALL]")
    if security.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
        problem("seccompProfile is not RuntimeDefault")

    resources = container.get("resources", {})
    for resource in ("cpu", "memory"):
        request = resources.get("requests", {}).get(resource)
        limit = resources.get("limits", {}).get(resource)
        if request is None:
            problem(f"no {resource} request")
        if limit is None:
            problem(f"no {resource} limit")
        if request is not None and limit is not None and quantity(resource, request) > quantity(resource, limit):
            problem(f"{resource} request {request} is above its limit {limit}")

    # writable scratch: /tmp is an emptyDir and the working directory (Faust's data dir lands there)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    tmp = mounts.get("/tmp")
    if tmp is None or "emptyDir" not in volumes.get(tmp["name"], {}):
        problem("/tmp is not an emptyDir mount")
    if container.get("workingDir") != "/tmp":
        problem("workingDir is not /tmp")

    env = env_of(container)
    for variable in SECRET_ENV & set(env):
        if "secretKeyRef" not in env[variable].get("valueFrom", {}):
            problem(f"{variable} is not taken from a Secret (secretKeyRef)")
    reads = SECRETS_READ.get(name, set())
    for variable in sorted(reads - OPTIONAL_SECRETS - set(env)):
        problem(f"{variable} is not set")
    for variable in sorted((SECRET_ENV & set(env)) - reads):
        problem(f"is given {variable}, a secret this process does not read")
    if not any("configMapRef" in source for source in container.get("envFrom", [])):
        problem("takes no configuration from a ConfigMap (envFrom)")
    return problems


def check_deployment(deployment: Obj, objects: list[Obj]) -> list[str]:
    """A long-running process: the shared pod checks, plus selector, spreading, scraping, ports and probes."""
    name = deployment["metadata"]["name"]
    problems = check_pod(deployment, objects)
    kind = serves(deployment)
    if kind is None:
        return problems

    def problem(text: str) -> None:
        problems.append(f"Deployment/{name}: {text}")

    spec = deployment["spec"]
    template = spec["template"]
    labels = pod_labels(deployment)
    if not selects(spec["selector"].get("matchLabels", {}), labels):
        problem("selector does not match the pod template's labels")
    spread = template["spec"].get("topologySpreadConstraints", [])
    if not spread:
        problem("has no topologySpreadConstraints")
    for constraint in spread:
        if not selects(constraint.get("labelSelector", {}).get("matchLabels", {}), labels):
            problem(f"topology spread on {constraint.get('topologyKey')} does not select its own pods")
    annotations = template["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true":
        problem("pod is not annotated prometheus.io/scrape: 'true'")
    if (
        annotations.get("prometheus.io/port") != str(METRICS_PORT)
        or annotations.get("prometheus.io/path") != "/metrics"
    ):
        problem("prometheus.io/port or path does not point at the metrics port's /metrics")
    for container in template["spec"].get("containers", []):
        problems.extend(check_serving(name, kind, container))
    return problems


# what a process of each kind serves besides metrics: (port name, port, port variable, probe path or None=gRPC)
SERVING: dict[str, tuple[str, int, str, str | None] | None] = {
    "grpc": ("grpc", GRPC_PORT, "SOTONG_GRPC_PORT", None),
    "http": ("http", HTTP_PORT, "SOTONG_HTTP_PORT", "/healthz"),
    "consumer": None,
}


def check_serving(deployment: str, kind: str, container: Obj) -> list[str]:
    """Listen address, ports and the variables that must match them, and probes of the right kind on them."""
    where = f"Deployment/{deployment} container {container.get('name')}"
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    env = env_of(container)
    if env.get("SOTONG_LISTEN_HOST", {}).get("value") != "0.0.0.0":
        problem("SOTONG_LISTEN_HOST is not 0.0.0.0 (the servers would listen on loopback only)")
    if ports.get("metrics") != METRICS_PORT:
        problem(f"no container port named metrics on {METRICS_PORT}")
    if env.get("SOTONG_METRICS_PORT", {}).get("value") != str(ports.get("metrics")):
        problem("SOTONG_METRICS_PORT does not match the metrics container port")
    serving = SERVING[kind]
    for other, (port_name, _, variable, _) in ((k, v) for k, v in SERVING.items() if v and k != kind):
        if port_name in ports or variable in env:
            problem(f"a {kind} process serves no {other} but declares {port_name} ({variable})")
    if serving is not None:
        port_name, number, variable, _ = serving
        if ports.get(port_name) != number:
            problem(f"no container port named {port_name} on {number}")
        if env.get(variable, {}).get("value") != str(ports.get(port_name)):
            problem(f"{variable} does not match the {port_name} container port")

    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if not probe:
            problem(f"has no {probe_name}")
            continue
        if kind == "grpc":
            if probe.get("grpc", {}).get("port") != ports.get("grpc"):
                problem(f"{probe_name} is not a gRPC probe on the grpc port")
            continue
        port_name, path = ("http", "/healthz") if kind == "http" else ("metrics", "/metrics")
        http = probe.get("httpGet", {})
        if http.get("path") != path or http.get("port") not in (port_name, ports.get(port_name)):
            problem(f"{probe_name} is not an httpGet on the {port_name} port's {path}")
    return problems


_CRON_FIELD = re.compile(r"^[\d*/,-]+$")


def check_cron_job(cron_job: Obj, objects: list[Obj]) -> list[str]:
    """A scheduled job: the shared pod checks, plus a schedule that never overlaps, retries a little and ends."""
    name = cron_job["metadata"]["name"]
    problems = check_pod(cron_job, objects)

    def problem(text: str) -> None:
        problems.append(f"CronJob/{name}: {text}")

    spec = cron_job["spec"]
    fields = str(spec.get("schedule", "")).split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        problem(f"schedule {spec.get('schedule')!r} is not five plain cron fields")
    if not spec.get("timeZone"):
        problem("has no timeZone (the schedule would follow the controller's clock)")
    if spec.get("concurrencyPolicy") != "Forbid":
        problem("concurrencyPolicy is not Forbid (two runs could overlap)")
    if not spec.get("startingDeadlineSeconds"):
        problem("has no startingDeadlineSeconds (a long outage replays missed runs)")
    job = spec["jobTemplate"]["spec"]
    if not job.get("activeDeadlineSeconds"):
        problem("job has no activeDeadlineSeconds (a stuck run blocks every later one)")
    if job.get("backoffLimit") is None or int(job["backoffLimit"]) > 6:
        problem("job backoffLimit is unset or above 6")
    if job.get("ttlSecondsAfterFinished") is None:
        problem("job has no ttlSecondsAfterFinished")
    if pod_template(cron_job)["spec"].get("restartPolicy") not in {"Never", "OnFailure"}:
        problem("pod restartPolicy is not Never or OnFailure")
    for container in containers_of(cron_job):
        if any(container.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")):
            problem("a run-to-completion job has probes")
    return problems


def check_processes_separate(objects: list[Obj]) -> list[str]:
    """Each service: a Deployment per process and a CronJob per job, one image, selectors that do not overlap."""
    problems = []
    deployments = of_kind(objects, "Deployment")
    for workload in workloads(objects):
        if role_of(workload) is None:
            problems.append(f"{workload['kind']}/{workload['metadata']['name']} is outside the pattern")
    for svc in sorted({role[0] for w in workloads(objects) if (role := role_of(w))}):
        mine = []
        for process in PROCESSES[svc]:
            found = named(deployments, "Deployment", f"{svc}-{process}")
            if found is None:
                problems.append(f"{svc}: needs a Deployment {svc}-{process} (one process per Deployment)")
            else:
                mine.append(found)
        for job in JOBS.get(svc, ()):
            found = named(objects, "CronJob", f"{svc}-{job}")
            if found is None:
                problems.append(f"{svc}: needs a CronJob {svc}-{job}")
            else:
                mine.append(found)
        for one in mine:
            for other in mine:
                if (
                    one is not other
                    and one["kind"] == "Deployment"
                    and selects(one["spec"]["selector"]["matchLabels"], pod_labels(other))
                ):
                    problems.append(f"{svc}: {one['metadata']['name']} also selects {other['metadata']['name']}'s pods")
        images = {c["image"] for w in mine for c in containers_of(w)}
        if len(images) != 1:
            problems.append(f"{svc}: its processes should run one image, found {sorted(images)}")
    return problems


def blocks_every_eviction(budget: Obj, replicas: int) -> bool:
    spec = budget["spec"]
    if "maxUnavailable" in spec:
        return str(spec["maxUnavailable"]) in {"0", "0%"}
    minimum = str(spec.get("minAvailable", "0"))
    return minimum == "100%" or (minimum.isdigit() and int(minimum) >= replicas)


def check_disruption_budgets(objects: list[Obj]) -> list[str]:
    problems = []
    budgets = of_kind(objects, "PodDisruptionBudget")
    deployments = of_kind(objects, "Deployment")
    for deployment in deployments:
        matching = [b for b in budgets if selects(b["spec"]["selector"].get("matchLabels", {}), pod_labels(deployment))]
        if len(matching) != 1:
            problems.append(f"Deployment/{deployment['metadata']['name']} is selected by {len(matching)} PDBs")
        for budget in matching:
            if blocks_every_eviction(budget, deployment["spec"].get("replicas", 1)):
                problems.append(f"PDB/{budget['metadata']['name']} would block every eviction (node drains hang)")
    for budget in budgets:
        selected = [d for d in deployments if selects(budget["spec"]["selector"].get("matchLabels", {}), pod_labels(d))]
        if len(selected) != 1:
            problems.append(f"PDB/{budget['metadata']['name']} selects {len(selected)} Deployments")
    return problems


def check_services(objects: list[Obj]) -> list[str]:
    problems = []
    deployments = of_kind(objects, "Deployment")
    for service in of_kind(objects, "Service"):
        name = service["metadata"]["name"]
        selector = service["spec"].get("selector", {})
        targets = [d for d in deployments if selects(selector, pod_labels(d))]
        if len(targets) != 1:
            problems.append(f"Service/{name} selects {len(targets)} Deployments")
            continue
        ports = container_ports(targets[0])
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if target not in ports:
                problems.append(f"Service/{name} port {port.get('name')} targets {target!r}, not a container port")
            elif ports[target] != port["port"]:
                problems.append(f"Service/{name} port {port['port']} forwards to container port {ports[target]}")
            if port.get("name") == "grpc" and (port.get("appProtocol") != "grpc" or port["port"] != GRPC_PORT):
                problems.append(f"Service/{name} port grpc is not appProtocol grpc on {GRPC_PORT}")
            if port.get("name") == "http" and port["port"] != HTTP_PORT:
                problems.append(f"Service/{name} port http is not {HTTP_PORT}")
            if port.get("name") == "metrics" and port["port"] != METRICS_PORT:
                problems.append(f"Service/{name} port metrics is not {METRICS_PORT}")
    for deployment in deployments:
        kind = serves(deployment)
        serving = SERVING.get(kind or "consumer")
        if serving is not None:
            reached = [
                s for s in of_kind(objects, "Service") if selects(s["spec"].get("selector", {}), pod_labels(deployment))
            ]
            if not any(p.get("name") == serving[0] for s in reached for p in s["spec"]["ports"]):
                problems.append(f"Deployment/{deployment['metadata']['name']} has no Service with a {serving[0]} port")
    return problems


def looks_fake(value: str) -> bool:
    """Says dev-only in clear, or is a key list whose every key says it once decoded: a contact key ring
    (id:base64key,...) or webhook secrets (source=whsec_base64 whsec_base64;...)."""
    if DEV_SECRET_MARKER in value:
        return True
    if "whsec_" in value:
        entries = [k.removeprefix("whsec_") for part in value.split(";") for k in part.partition("=")[2].split()]
    else:
        entries = [e.partition(":")[2] for e in value.split(",")]
    try:
        return all(DEV_SECRET_MARKER in base64.b64decode(e, validate=True).decode("latin-1") for e in entries)
    except ValueError:
        return False


def check_secrets(objects: list[Obj], fake_allowed: bool) -> list[str]:
    """No secret values, except clearly fake dev-only ones; every secretKeyRef resolves where Secrets exist."""
    problems: list[str] = []
    secrets = of_kind(objects, "Secret")
    if secrets and not fake_allowed:
        problems.extend(f"Secret/{s['metadata']['name']} is committed" for s in secrets)
    for secret in secrets:
        values = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        values.update(secret.get("stringData", {}))
        for key, value in values.items():
            if not looks_fake(value):
                problems.append(
                    f"Secret/{secret['metadata']['name']} key {key} does not look fake ({DEV_SECRET_MARKER})"
                )
    for config_map in of_kind(objects, "ConfigMap"):
        leaked = SECRET_ENV & set(config_map.get("data", {}))
        if leaked:
            problems.append(f"ConfigMap/{config_map['metadata']['name']} holds secrets {sorted(leaked)}")
    for workload in workloads(objects):
        for container in containers_of(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None or not secrets:
                    continue
                referred = named(secrets, "Secret", ref["name"])
                if referred is None or ref["key"] not in referred.get("data", {}):
                    problems.append(
                        f"{workload['kind']}/{workload['metadata']['name']}: {entry['name']} refers to "
                        f"{ref['name']}/{ref['key']}, which the overlay does not generate"
                    )
    return problems


def check_config_maps(objects: list[Obj], replication: str) -> list[str]:
    problems = []
    for workload in workloads(objects):
        for container in containers_of(workload):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref is None:
                    continue
                config_map = named(objects, "ConfigMap", ref["name"])
                if config_map is None:
                    problems.append(
                        f"{workload['kind']}/{workload['metadata']['name']}: ConfigMap {ref['name']} missing"
                    )
                    continue
                data = config_map.get("data", {})
                if not data.get("SOTONG_KAFKA_BOOTSTRAP"):
                    problems.append(f"ConfigMap/{ref['name']} has no SOTONG_KAFKA_BOOTSTRAP")
                if data.get("SOTONG_TOPIC_REPLICATION") != replication:
                    problems.append(f"ConfigMap/{ref['name']} SOTONG_TOPIC_REPLICATION is not {replication}")
                if data.get("SOTONG_LOG_LEVEL") not in {"debug", "info", "warning", "error"}:
                    problems.append(f"ConfigMap/{ref['name']} SOTONG_LOG_LEVEL is not a level")
    return problems


def check_images(objects: list[Obj], tag: str | None) -> list[str]:
    problems = []
    for workload in workloads(objects):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in containers_of(workload):
            image = container["image"]
            _, suffix = kustomize_lite.split_image(image)
            if not suffix or suffix == ":latest":
                problems.append(f"{where}: image {image} has no pinned tag")
            elif tag is not None and suffix != f":{tag}" and not suffix.startswith(f":{tag}@"):
                problems.append(f"{where}: image {image} is not tagged {tag}")
    return problems


def topic_partitions() -> dict[str, int]:
    catalog = yaml.safe_load(TOPIC_CATALOG.read_text(encoding="utf-8"))
    default = int(catalog.get("defaults", {}).get("partitions", 1))
    return {t["name"]: int(t.get("partitions", default)) for t in catalog["topics"]}


def check_autoscaling(objects: list[Obj]) -> list[str]:
    """Prod: an HPA on CPU per API; a lag-driven scaler per consumer, bounded by partitions; no double owners."""
    problems = []
    partitions = topic_partitions()
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    scaled_objects = of_kind(objects, "ScaledObject")
    owners: dict[str, list[str]] = {}
    for scaler in hpas + scaled_objects:
        owners.setdefault(scaler["spec"]["scaleTargetRef"]["name"], []).append(
            f"{scaler['kind']}/{scaler['metadata']['name']}"
        )
    for deployment in of_kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        kind = serves(deployment)
        if kind is None:
            continue
        if len(owners.get(name, [])) != 1:
            problems.append(f"Deployment/{name} is scaled by {owners.get(name, [])}, expected exactly one autoscaler")
            continue
        if kind in {"grpc", "http"}:
            hpa = named(hpas, "HorizontalPodAutoscaler", name)
            if hpa is None or hpa["spec"]["scaleTargetRef"]["name"] != name:
                problems.append(f"Deployment/{name} has no HorizontalPodAutoscaler of its own")
                continue
            metrics = hpa["spec"].get("metrics", [])
            if not any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu" for m in metrics):
                problems.append(f"HPA/{name} does not scale on CPU")
            if hpa["spec"].get("minReplicas", 1) != deployment["spec"].get("replicas", 1):
                problems.append(f"HPA/{name} minReplicas differs from the Deployment's replicas")
            if hpa["spec"].get("minReplicas", 1) < 2 or hpa["spec"]["maxReplicas"] < hpa["spec"].get("minReplicas", 1):
                problems.append(f"HPA/{name} bounds are not 2 <= min <= max")
        else:
            scaled = named(scaled_objects, "ScaledObject", name)
            if scaled is None:
                problems.append(f"Deployment/{name} has no KEDA ScaledObject on consumer lag")
                continue
            problems.extend(check_scaled_object(scaled, deployment, objects, partitions))
    return problems


def consumer_groups(deployment: str) -> dict[str, str | None]:
    """The consumer groups a consumer process joins -> the topic its lag trigger must watch (None: any topic in
    the catalog). A Faust worker is one group, its app id sotong-<svc>; the publishing engine is one group per
    channel and lane, and every one of them must be watched."""
    if deployment == "alerting-dispatch":
        return {
            f"sotong-alerting-dispatch-{channel}-{lane}": topic
            for channel in DISPATCH_CHANNELS
            for lane, topic in DISPATCH_LANES.items()
        }
    return {f"sotong-{deployment.split('-')[0]}": None}


def check_scaled_object(scaled: Obj, deployment: Obj, objects: list[Obj], partitions: dict[str, int]) -> list[str]:
    name = scaled["metadata"]["name"]
    problems = []
    spec = scaled["spec"]
    allowed = {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "advanced",
        "triggers",
        "idleReplicaCount",
        "fallback",
    }
    if set(spec) - allowed:
        problems.append(f"ScaledObject/{name} has unknown fields {sorted(set(spec) - allowed)}")
    if spec["scaleTargetRef"].get("name") != deployment["metadata"]["name"]:
        problems.append(f"ScaledObject/{name} does not target its Deployment")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not 1 <= low <= high:
        problems.append(f"ScaledObject/{name} bounds are not 1 <= min <= max")
    if deployment["spec"].get("replicas", 1) != low:
        problems.append(f"ScaledObject/{name} minReplicaCount differs from the Deployment's replicas")
    config_map_names = [
        s["configMapRef"]["name"]
        for c in containers_of(deployment)
        for s in c.get("envFrom", [])
        if "configMapRef" in s
    ]
    bootstraps = {
        (named(objects, "ConfigMap", n) or {}).get("data", {}).get("SOTONG_KAFKA_BOOTSTRAP") for n in config_map_names
    }
    kafka = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
    if not kafka:
        problems.append(f"ScaledObject/{name} has no kafka (consumer lag) trigger")
    groups = consumer_groups(deployment["metadata"]["name"])
    watched = {t.get("metadata", {}).get("consumerGroup") for t in kafka}
    for group in sorted(set(groups) - watched):
        problems.append(f"ScaledObject/{name} does not watch the lag of group {group}")
    for trigger in kafka:
        meta = trigger.get("metadata", {})
        if meta.get("bootstrapServers") not in bootstraps:
            problems.append(f"ScaledObject/{name} bootstrapServers differs from SOTONG_KAFKA_BOOTSTRAP {bootstraps}")
        group, topic = meta.get("consumerGroup"), meta.get("topic")
        if group not in groups:
            problems.append(f"ScaledObject/{name} watches group {group}; the process's groups are {sorted(groups)}")
        elif groups[group] not in (None, topic):
            problems.append(f"ScaledObject/{name} watches group {group} on {topic}, it consumes {groups[group]}")
        if topic not in partitions:
            problems.append(f"ScaledObject/{name} watches {topic}, which is not in the topic catalog")
        elif high > partitions[topic]:
            problems.append(f"ScaledObject/{name} may scale to {high}, past {topic}'s {partitions[topic]} partitions")
        if not str(meta.get("lagThreshold", "")).isdigit():
            problems.append(f"ScaledObject/{name} lagThreshold is not a whole number string")
    return problems


def check_namespace(objects: list[Obj], expected: str) -> list[str]:
    problems = []
    namespaces = of_kind(objects, "Namespace")
    if [n["metadata"]["name"] for n in namespaces] != [expected]:
        problems.append(f"expected one Namespace {expected}, found {[n['metadata']['name'] for n in namespaces]}")
    for namespace in namespaces:
        if namespace["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
            problems.append(f"Namespace/{namespace['metadata']['name']} does not enforce Pod Security 'restricted'")
    for obj in objects:
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != expected:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']} is not in namespace {expected}")
    return problems


def schema_problems(objects: list[Obj]) -> list[str]:
    problems = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kv_utils.SchemaNotFoundError:
                problems.append(f"{where}: no schema for {obj.get('apiVersion')} in Kubernetes {version}")
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where}: invalid for Kubernetes {version} at {path or '(root)'}: {exc.message}")
    return problems


def pattern_problems(objects: list[Obj]) -> list[str]:
    problems = []
    for deployment in of_kind(objects, "Deployment"):
        problems.extend(check_deployment(deployment, objects))
    for cron_job in of_kind(objects, "CronJob"):
        problems.extend(check_cron_job(cron_job, objects))
    problems += check_processes_separate(objects)
    problems += check_disruption_budgets(objects)
    problems += check_services(objects)
    return problems


# -------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_same_with_kubectl(overlay: str, rendered: dict[str, list[Obj]]) -> None:
    command = _external_kustomize()
    if command is None:
        pytest.skip("neither kustomize nor kubectl on PATH: rendered with kustomize_lite only")
    result = subprocess.run([*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    theirs = _comparable([d for d in yaml.safe_load_all(result.stdout) if d])
    ours = _comparable(rendered[overlay])
    assert sorted(ours) == sorted(theirs)
    for key, obj in ours.items():
        assert obj == theirs[key], f"{key} renders differently with {' '.join(command)}"


@pytest.mark.parametrize("target", [*OVERLAYS, *(f"base/{s}" for s in SERVICES)])
def test_every_object_is_valid_kubernetes(target: str, rendered: dict[str, list[Obj]]) -> None:
    assert schema_problems(rendered[target]) == []


@pytest.mark.parametrize("target", [*OVERLAYS, *(f"base/{s}" for s in SERVICES)])
def test_workloads_follow_the_pattern(target: str, rendered: dict[str, list[Obj]]) -> None:
    objects = rendered[target]
    services = [target[5:]] if target.startswith("base/") else list(SERVICES)
    assert {d["metadata"]["name"] for d in of_kind(objects, "Deployment")} == {
        f"{s}-{p}" for s in services for p in PROCESSES[s]
    }
    assert {c["metadata"]["name"] for c in of_kind(objects, "CronJob")} == {
        f"{s}-{j}" for s in services for j in JOBS.get(s, ())
    }
    assert pattern_problems(objects) == []


@pytest.mark.parametrize("target", ["prod", *(f"base/{s}" for s in SERVICES)])
def test_no_secret_values_outside_dev(target: str, rendered: dict[str, list[Obj]]) -> None:
    assert check_secrets(rendered[target], fake_allowed=False) == []


def test_dev_secrets_are_fake_and_complete(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["dev"]
    assert {s["metadata"]["name"] for s in of_kind(objects, "Secret")} == {f"{s}-secrets" for s in SERVICES}
    assert check_secrets(objects, fake_allowed=True) == []


def _committed_yaml() -> Iterator[Path]:
    for path in sorted(K8S.rglob("*.y*ml")):
        if "kafka-topics" not in path.parts:
            yield path


def test_no_secret_manifest_is_committed_anywhere() -> None:
    """Secrets exist only as the dev overlay's generator; no file under k8s/ is a Secret or carries stringData."""
    offenders = []
    for path in _committed_yaml():
        for doc in kustomize_lite.load_yaml_documents(path):
            if doc.get("kind") == "Secret" or "stringData" in doc:
                offenders.append(str(path.relative_to(ROOT)))
            if doc.get("kind") == "Kustomization" and doc.get("secretGenerator") and path.parent.name != "dev":
                offenders.append(f"{path.relative_to(ROOT)} (secretGenerator outside dev)")
    assert offenders == []


@pytest.mark.parametrize(("overlay", "replication"), [("dev", "1"), ("prod", "3")])
def test_config_maps(overlay: str, replication: str, rendered: dict[str, list[Obj]]) -> None:
    assert check_config_maps(rendered[overlay], replication) == []


@pytest.mark.parametrize(("overlay", "tag"), [("dev", "dev"), ("prod", None)])
def test_images_are_tagged(overlay: str, tag: str | None, rendered: dict[str, list[Obj]]) -> None:
    assert check_images(rendered[overlay], tag) == []


@pytest.mark.parametrize(("overlay", "namespace"), [("dev", "sotong-dev"), ("prod", "sotong")])
def test_namespace(overlay: str, namespace: str, rendered: dict[str, list[Obj]]) -> None:
    assert check_namespace(rendered[overlay], namespace) == []


def test_dev_runs_one_replica_and_no_autoscaler(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["dev"]
    assert {d["metadata"]["name"]: d["spec"]["replicas"] for d in of_kind(objects, "Deployment")} == {
        f"{s}-{p}": 1 for s in SERVICES for p in PROCESSES[s]
    }
    assert of_kind(objects, "HorizontalPodAutoscaler") == of_kind(objects, "ScaledObject") == []


def test_prod_scales_apis_on_cpu_and_workers_on_lag(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["prod"]
    assert all(d["spec"]["replicas"] >= 2 for d in of_kind(objects, "Deployment"))
    assert check_autoscaling(objects) == []


# ------------------------------------------------- the checks catch what they claim to (mutation tests)

Mutation = Callable[[list[Obj]], None]


def _deployment(objects: list[Obj], name: str) -> Obj:
    found = named(objects, "Deployment", name)
    assert found is not None
    return found


def _object(objects: list[Obj], kind: str, name: str) -> Obj:
    found = named(objects, kind, name)
    assert found is not None, f"{kind}/{name} is not rendered"
    return found


def _container(objects: list[Obj], name: str) -> Obj:
    return containers_of(_deployment(objects, name))[0]


def _drop(obj: Obj, *keys: str) -> None:
    for key in keys:
        obj.pop(key)


def _cron_container(objects: list[Obj], name: str) -> Obj:
    return containers_of(_object(objects, "CronJob", name))[0]


def _set_env(objects: list[Obj], deployment: str, variable: str, entry: Obj) -> None:
    env = _container(objects, deployment)["env"]
    env[:] = [e for e in env if e["name"] != variable] + [{"name": variable, **entry}]


MUTATIONS: dict[str, Mutation] = {
    "root filesystem writable": lambda o: _container(o, "intake-api")["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "runs as root": lambda o: _deployment(o, "moderation-worker")["spec"]["template"]["spec"]["securityContext"].update(
        runAsUser=0, runAsNonRoot=False
    ),
    "privilege escalation": lambda o: _container(o, "intake-worker")["securityContext"].pop("allowPrivilegeEscalation"),
    "capabilities kept": lambda o: _container(o, "moderation-api")["securityContext"]["capabilities"].update(drop=[]),
    "no memory request": lambda o: _container(o, "intake-worker")["resources"]["requests"].pop("memory"),
    "no limits": lambda o: _container(o, "moderation-api")["resources"].pop("limits"),
    "api probed over http": lambda o: _container(o, "intake-api").update(
        readinessProbe={"httpGet": {"path": "/metrics", "port": "metrics"}}
    ),
    "no liveness probe": lambda o: _container(o, "moderation-worker").pop("livenessProbe"),
    "no startup probe": lambda o: _container(o, "intake-api").pop("startupProbe"),
    "listens on loopback": lambda o: _container(o, "intake-api")["env"].pop(0),
    "api and worker in one Deployment": lambda o: o.remove(_deployment(o, "intake-worker")),
    "PDB missing": lambda o: o.remove(_object(o, "PodDisruptionBudget", "moderation-api")),
    "Service port to nowhere": lambda o: _object(o, "Service", "intake-api")["spec"]["ports"][0].update(
        targetPort=8080
    ),
    "Service on another grpc port": lambda o: _object(o, "Service", "moderation-api")["spec"]["ports"][0].update(
        port=80
    ),
    "token mounted": lambda o: _object(o, "ServiceAccount", "intake").update(automountServiceAccountToken=True),
    "no topology spread": lambda o: _deployment(o, "moderation-api")["spec"]["template"]["spec"].pop(
        "topologySpreadConstraints"
    ),
    "not scraped": lambda o: _deployment(o, "intake-worker")["spec"]["template"]["metadata"]["annotations"].clear(),
    "secret as plain env": lambda o: _set_env(o, "intake-api", "SOTONG_JWT_SECRET", {"value": "hunter2"}),
    "no writable /tmp": lambda o: _container(o, "moderation-worker").pop("volumeMounts"),
    # intake-http (an HTTP API)
    "http api without readiness probe": lambda o: _container(o, "intake-http").pop("readinessProbe"),
    "http api probed on /metrics": lambda o: _container(o, "intake-http").update(
        livenessProbe={"httpGet": {"path": "/metrics", "port": "metrics"}}
    ),
    "http api probed over gRPC": lambda o: _container(o, "intake-http").update(startupProbe={"grpc": {"port": 8080}}),
    "http port variable differs": lambda o: _set_env(o, "intake-http", "SOTONG_HTTP_PORT", {"value": "8081"}),
    "http api without security context": lambda o: _container(o, "intake-http").pop("securityContext"),
    "http api PDB missing": lambda o: o.remove(_object(o, "PodDisruptionBudget", "intake-http")),
    "http Service to nowhere": lambda o: _object(o, "Service", "intake-http")["spec"]["ports"][0].update(
        targetPort="web"
    ),
    "http api without Service": lambda o: o.remove(_object(o, "Service", "intake-http")),
    "webhook secrets as plain env": lambda o: _set_env(
        o, "intake-http", "SOTONG_INTAKE_WEBHOOK_SECRETS", {"value": "sns=whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}
    ),
    "http api without contact keys": lambda o: _container(o, "intake-http").update(
        env=[e for e in _container(o, "intake-http")["env"] if e["name"] != "SOTONG_INTAKE_CONTACT_KEYS"]
    ),
    "http api given the JWT key": lambda o: _set_env(
        o,
        "intake-http",
        "SOTONG_JWT_SECRET",
        {"valueFrom": {"secretKeyRef": {"name": "intake-secrets", "key": "jwt-secret"}}},
    ),
    # alerting
    "dispatch without probes": lambda o: _drop(_container(o, "alerting-dispatch"), "startupProbe", "livenessProbe"),
    "dispatch PDB missing": lambda o: o.remove(_object(o, "PodDisruptionBudget", "alerting-dispatch")),
    "dispatch runs as root": lambda o: _deployment(o, "alerting-dispatch")["spec"]["template"]["spec"][
        "securityContext"
    ].update(runAsUser=0, runAsNonRoot=False),
    "dispatch with a grpc port": lambda o: _container(o, "alerting-dispatch")["ports"].append(
        {"name": "grpc", "containerPort": GRPC_PORT}
    ),
    "dispatch token as plain env": lambda o: _set_env(o, "alerting-dispatch", DISPATCH_TOKEN, {"value": "t0ken"}),
    "dispatch without resources": lambda o: _container(o, "alerting-dispatch").pop("resources"),
    "dispatch merged into the worker": lambda o: o.remove(_deployment(o, "alerting-dispatch")),
    "alerting worker given the JWT key": lambda o: _set_env(
        o, "alerting-worker", JWT, {"valueFrom": {"secretKeyRef": {"name": "alerting-secrets", "key": "jwt-secret"}}}
    ),
    "alerting api on another image": lambda o: _container(o, "alerting-api").update(image="sotong/alerting-api:0.1.0"),
    "alerting api no topology spread": lambda o: _deployment(o, "alerting-api")["spec"]["template"]["spec"].pop(
        "topologySpreadConstraints"
    ),
    # the purge CronJob
    "purge CronJob missing": lambda o: o.remove(_object(o, "CronJob", "intake-purge")),
    "purge root filesystem writable": lambda o: _cron_container(o, "intake-purge")["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "purge runs as root": lambda o: pod_template(_object(o, "CronJob", "intake-purge"))["spec"][
        "securityContext"
    ].update(runAsUser=0, runAsNonRoot=False),
    "purge without limits": lambda o: _cron_container(o, "intake-purge")["resources"].pop("limits"),
    "purge runs may overlap": lambda o: _object(o, "CronJob", "intake-purge")["spec"].update(concurrencyPolicy="Allow"),
    "purge never times out": lambda o: _object(o, "CronJob", "intake-purge")["spec"]["jobTemplate"]["spec"].pop(
        "activeDeadlineSeconds"
    ),
    "purge without time zone": lambda o: _object(o, "CronJob", "intake-purge")["spec"].pop("timeZone"),
    "purge database URL as plain env": lambda o: _cron_container(o, "intake-purge").update(
        env=[{"name": DB, "value": "postgresql://u:p@db/intake"}]
    ),
    "purge given the contact keys": lambda o: _cron_container(o, "intake-purge")["env"].append(
        {"name": CONTACT_KEYS, "valueFrom": {"secretKeyRef": {"name": "intake-secrets", "key": "contact-keys"}}}
    ),
    "purge runs another command": lambda o: _cron_container(o, "intake-purge").update(command=["sotong-intake-api"]),
    "purge token mounted": lambda o: _object(o, "CronJob", "intake-purge")["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ].update(automountServiceAccountToken=True),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_pattern_checks_fail_on_a_broken_manifest(mutation: str) -> None:
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    assert pattern_problems(objects) == []
    MUTATIONS[mutation](objects)
    assert pattern_problems(objects) != [], f"a manifest with '{mutation}' passed the pattern checks"


def test_schema_check_fails_on_an_unknown_or_mistyped_field() -> None:
    objects = kustomize_lite.render(K8S / "base" / "intake")
    broken = copy.deepcopy(objects)
    _container(broken, "intake-api")["readinessProbe"]["grpcc"] = {"port": GRPC_PORT}
    assert schema_problems(broken) != []
    broken = copy.deepcopy(objects)
    _deployment(broken, "intake-worker")["spec"]["replicas"] = "two"
    assert schema_problems(broken) != []


def test_secret_checks_fail_on_a_real_looking_secret() -> None:
    objects = kustomize_lite.render(K8S / "overlays" / "dev")
    secret = named(objects, "Secret", "intake-secrets")
    assert secret is not None
    secret["data"]["jwt-secret"] = base64.b64encode(b"some-real-looking-key").decode()
    assert check_secrets(objects, fake_allowed=True) != []
    prod = kustomize_lite.render(K8S / "overlays" / "prod")
    prod.append(copy.deepcopy(secret))
    assert check_secrets(prod, fake_allowed=False) != []


def test_autoscaling_checks_fail_past_the_partition_count_or_on_the_wrong_group() -> None:
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    scaled = named(objects, "ScaledObject", "moderation-worker")
    assert scaled is not None
    scaled["spec"]["maxReplicaCount"] = 64
    assert check_autoscaling(objects) != []
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    scaled = named(objects, "ScaledObject", "intake-worker")
    assert scaled is not None
    scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "intake"
    assert check_autoscaling(objects) != []
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    objects.remove(_object(objects, "HorizontalPodAutoscaler", "intake-api"))
    assert check_autoscaling(objects) != []
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    objects.remove(_object(objects, "HorizontalPodAutoscaler", "intake-http"))
    assert check_autoscaling(objects) != []
    # the publishing engine: every channel and lane watched, each group on its own lane's topic
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    scaled = _object(objects, "ScaledObject", "alerting-dispatch")
    scaled["spec"]["triggers"] = [
        t for t in scaled["spec"]["triggers"] if "-sms-" not in t["metadata"]["consumerGroup"]
    ]
    assert check_autoscaling(objects) != []
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    scaled = _object(objects, "ScaledObject", "alerting-dispatch")
    scaled["spec"]["triggers"][0]["metadata"]["topic"] = DISPATCH_LANES["routine"]
    assert check_autoscaling(objects) != []
    objects = kustomize_lite.render(K8S / "overlays" / "prod")
    _object(objects, "ScaledObject", "alerting-dispatch")["spec"]["maxReplicaCount"] = 12
    assert check_autoscaling(objects) != []


def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n", encoding="utf-8")
    with pytest.raises(kustomize_lite.KustomizeError, match="namePrefix"):
        kustomize_lite.render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: s\n    literals: [a=b]\n", encoding="utf-8"
    )
    with pytest.raises(kustomize_lite.KustomizeError, match="disableNameSuffixHash"):
        kustomize_lite.render(tmp_path)


# ------------------------------------------------------- the manifests against the code's settings modules

# Which settings list each workload's process loads (config.load_or_exit(...) in its main()).
SETTINGS_LISTS = {
    "intake-api": ("sotong_intake.settings", "API"),
    "intake-http": ("sotong_intake.settings", "HTTP"),
    "intake-worker": ("sotong_intake.settings", "WORKER"),
    "intake-purge": ("sotong_intake.settings", "PURGE"),
    "moderation-api": ("sotong_moderation.settings", "API"),
    "moderation-worker": ("sotong_moderation.settings", "WORKER"),
    "alerting-api": ("sotong_alerting.settings", "API"),
    "alerting-worker": ("sotong_alerting.settings", "WORKER"),
    "alerting-dispatch": ("sotong_publishing.settings", "WORKER"),
}


def _settings_of(workload: str) -> list[Any]:
    module_name, attribute = SETTINGS_LISTS[workload]
    module = pytest.importorskip(module_name, reason="the service packages are not installed")
    settings: list[Any] = getattr(module, attribute)
    return settings


def settings_problems(objects: list[Obj]) -> list[str]:
    """Each process gets every variable its settings require, its secrets through secretKeyRef and nothing
    the code does not read; every value the manifests hold (Secrets too, in dev) parses as the code parses it."""
    problems = []
    secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    config_keys: dict[str, set[str]] = {}
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        where = f"{workload['kind']}/{name}"
        settings = {s.env: s for s in _settings_of(name)}
        for container in containers_of(workload):
            values: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    ref = source["configMapRef"]["name"]
                    values.update((named(objects, "ConfigMap", ref) or {}).get("data", {}))
                    config_keys.setdefault(ref, set()).update(settings)
            env = env_of(container)
            for variable, entry in env.items():
                if variable not in settings:
                    problems.append(f"{where}: sets {variable}, which its process does not read")
                if "value" in entry:
                    values[variable] = str(entry["value"])
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in secrets and ref["key"] in secrets[ref["name"]].get("data", {}):
                    values[variable] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
            for variable, setting in settings.items():
                if setting.required and variable not in env and variable not in values:
                    problems.append(f"{where}: {variable} is required by the code and not set")
                if variable in values:
                    try:
                        setting.parse(values[variable])
                    except ValueError as exc:
                        problems.append(f"{where}: {variable}={values[variable][:40]!r} does not parse: {exc}")
            secret_settings = {v for v, s in settings.items() if s.secret}
            if secret_settings != SECRETS_READ.get(name):
                problems.append(
                    f"{where}: the code's secrets are {sorted(secret_settings)}, SECRETS_READ says otherwise"
                )
            for variable in OPTIONAL_SECRETS & secret_settings:
                if settings[variable].required:
                    problems.append(f"{variable} is required by the code, yet OPTIONAL_SECRETS lets a Secret omit it")
    for config_map, readers in config_keys.items():
        data = (named(objects, "ConfigMap", config_map) or {}).get("data", {})
        for key in sorted(set(data) - readers):
            problems.append(f"ConfigMap/{config_map}: {key} is read by none of the processes that load it")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_match_the_settings_modules(overlay: str, rendered: dict[str, list[Obj]]) -> None:
    assert settings_problems(rendered[overlay]) == []


def test_settings_check_fails_on_a_typo_a_missing_variable_or_a_bad_value() -> None:
    objects = kustomize_lite.render(K8S / "overlays" / "dev")
    assert settings_problems(objects) == []
    broken = copy.deepcopy(objects)
    _set_env(broken, "intake-http", "SOTONG_HTTP_PROT", {"value": "8080"})
    assert settings_problems(broken) != []
    broken = copy.deepcopy(objects)
    _object(broken, "ConfigMap", "alerting-config")["data"].pop("SOTONG_ALERTING_DISPATCH_PROVIDERS")
    assert settings_problems(broken) != []
    broken = copy.deepcopy(objects)
    _object(broken, "ConfigMap", "alerting-config")["data"]["SOTONG_ALERTING_DISPATCH_PROVIDERS"] = '{"fax": "x"}'
    assert settings_problems(broken) != []
    broken = copy.deepcopy(objects)
    secret = _object(broken, "Secret", "intake-secrets")
    secret["data"]["webhook-secrets"] = base64.b64encode(b"sns=whsec_dev-only").decode()
    assert settings_problems(broken) != []


def test_console_scripts_and_consumer_groups_are_the_codes() -> None:
    """The commands the manifests run exist, and the groups KEDA watches are the ones the engine joins."""
    metadata = pytest.importorskip("importlib.metadata")
    scripts = {e.name for e in metadata.entry_points(group="console_scripts")}
    if "sotong-intake-api" not in scripts:
        pytest.skip("the service packages are not installed")
    wanted = {f"sotong-{s}-{p}" for s in SERVICES for p in PROCESSES[s]} | {
        f"sotong-{s}-{j}" for s, jobs in JOBS.items() for j in jobs
    }
    assert wanted - scripts == set()
    engine_settings = pytest.importorskip("sotong_publishing.settings")
    lanes = pytest.importorskip("sotong_publishing.lanes")
    topics = pytest.importorskip("sotong_common.topics")
    assert set(engine_settings.CHANNELS) == set(DISPATCH_CHANNELS)
    if topics.PREFIX:
        pytest.skip("SOTONG_TOPIC_PREFIX is set: topic and group names carry it")
    assert {topics.DISPATCH_EMERGENCY, topics.DISPATCH_ROUTINE} == set(DISPATCH_LANES.values())
    assert {lanes.group_id(c, t) for c in DISPATCH_CHANNELS for t in DISPATCH_LANES.values()} == set(
        consumer_groups("alerting-dispatch")
    )
