"""Offline checks of k8s/: every overlay renders, every object is valid Kubernetes, and the pattern holds.

The pattern (k8s/README.md): per service one image and one Deployment per long-running process (PROCESSES:
gRPC APIs, HTTP APIs and Kafka consumers), plus CronJobs for its scheduled jobs (JOBS); pods non-root with a
read-only root filesystem and no privileges; requests and limits; gRPC probes for gRPC APIs, /healthz probes
for HTTP APIs, /metrics probes for consumers; a PodDisruptionBudget per Deployment; Services whose ports reach
real container ports; each process given exactly the secrets it reads, only by reference (the dev overlay's
fake values excepted); CronJobs that never overlap and always end; and in prod autoscaling that never scales
a consumer past its topic's partition count and watches every consumer group. Where the service packages are
installed, the manifests are also checked against their settings classes (every required variable set, secrets
as secrets, no unknown names, every value parses) and the consumer groups against the code.

Every check is a function returning a list of problems, so that the tests at the bottom can prove each check
fails on a manifest that breaks the pattern. Rendering is the real kustomize (`kustomize build`, the version the
Makefile pins, installed by `make k8s-tools`; see conftest.py). Built-in kinds are validated by
kubernetes-validate against the Kubernetes OpenAPI schemas it ships; the custom resources (KEDA ScaledObject,
Strimzi KafkaTopic), for which no schema is at hand offline, get the structural checks in `custom_problems`.

Needs: pytest, PyYAML, kubernetes-validate (schemas ship with it; nothing is fetched), .venv/bin/kustomize.
"""

from __future__ import annotations

import base64
import copy
import re
import subprocess
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
KUSTOMIZE = ROOT / ".venv" / "bin" / "kustomize"

OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the manifests promise to work on (gRPC probes are GA since 1.27, matchLabelKeys on
# by default since 1.27, CronJob timeZone GA since 1.27) and the newest schema kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kv_utils.latest_version())
# Custom resources: no schema ships for them; `custom_problems` checks them.
SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
KAFKA_TOPIC = ("kafka.strimzi.io/v1beta2", "KafkaTopic")
CUSTOM_KINDS = {SCALED_OBJECT, KAFKA_TOPIC}
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
    "alerting": {"api": "grpc", "worker": "consumer"},
    "publishing": {"dispatch": "consumer"},
    "partner": {"api": "grpc", "http": "http", "worker": "consumer"},
    # The gateway's one process serves native gRPC and, for browsers, HTTP (Connect, gRPC-Web): both kinds.
    "gateway": {"api": "grpc+http"},
    "community": {"api": "grpc", "worker": "consumer"},
    # The operators' console: pages and server-sent events over HTTP.
    "console": {"web": "http"},
}
# Scheduled jobs: CronJob <svc>-<job>, command sotong-<svc>-<job>.
JOBS: dict[str, tuple[str, ...]] = {"intake": ("purge",)}
SERVICES = tuple(PROCESSES)

DB, JWT = "SOTONG_DATABASE_URL", "SOTONG_JWT_SECRET"
CONTACT_KEYS = "SOTONG_INTAKE_CONTACT_KEYS"
WEBHOOK_SECRETS = "SOTONG_INTAKE_WEBHOOK_SECRETS"
OPEN311_KEYS = "SOTONG_INTAKE_OPEN311_API_KEYS"
KAKAO_TOKEN = "SOTONG_INTAKE_KAKAO_SKILL_TOKEN"
PROVIDER_TOKEN = "SOTONG_PUBLISHING_PROVIDER_TOKEN"
SEAL_KEYS = "SOTONG_PUBLISHING_SEAL_KEYS"
PARTNER_KEYS = "SOTONG_PARTNER_DATA_KEYS"
COMMUNITY_KEYS = "SOTONG_COMMUNITY_CONTACT_KEYS"
PARTNER_WEBHOOKS = "SOTONG_PARTNER_WEBHOOK_SECRETS"
SESSION_KEYS = "SOTONG_CONSOLE_SESSION_KEYS"
DEV_PASSWORD = "SOTONG_CONSOLE_DEV_PASSWORD"
OIDC_SECRET = "SOTONG_CONSOLE_OIDC_CLIENT_SECRET"
# The secrets each workload reads (from the settings classes; test_manifests_match_the_settings_classes keeps
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
    "publishing-dispatch": {DB, PROVIDER_TOKEN, SEAL_KEYS},
    "community-api": {DB, JWT, COMMUNITY_KEYS},
    "community-worker": {DB, COMMUNITY_KEYS},
    "console-web": {JWT, SESSION_KEYS, DEV_PASSWORD, OIDC_SECRET},
    "partner-api": {DB, JWT, PARTNER_KEYS},
    "partner-http": {DB, PARTNER_WEBHOOKS},
    "partner-worker": {DB, JWT, PARTNER_KEYS},
    "gateway-api": {JWT},
}
# Secrets with a safe default in the code (unset = that door stays closed), which a Secret may leave out.
OPTIONAL_SECRETS = {WEBHOOK_SECRETS, OPEN311_KEYS, KAKAO_TOKEN, PARTNER_WEBHOOKS, DEV_PASSWORD, OIDC_SECRET}
SECRET_ENV = set().union(*SECRETS_READ.values())
# The publishing service's public sealing keys: every process that requests dispatches to a citizen's own contact
# reads them (the settings classes keep this set true), all from the one ConfigMap publishing-seal, so a rotation
# is one change. The private half is SEAL_KEYS, the engine's alone.
SEAL_PUBLIC_KEYS = "SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS"
SEAL_PUBLIC_REF = {"name": "publishing-seal", "key": "public-keys"}
PUBLIC_KEYS_READ = {"intake-api", "intake-http", "intake-worker", "community-api", "community-worker"}
# The publishing engine's consumer groups: one per channel and lane (sotong_publishing.lanes.group_id), each lane
# reading the catalog's dispatch-request topics of that lane (sotong_publishing.lanes.lane_topics).
DISPATCH_CHANNELS = ("chat", "pager", "mail", "notice", "sns", "push", "kakao", "sms", "kakao_bot")
# The other consumers' groups: a Faust worker's is its app id (sotong_common.streams.app_id), moderation's batch
# consumer's that plus -batch (sotong_common.batching.BatchConsumer.group); their topics are not listed here.
CONSUMER_GROUPS = {
    "intake-worker": "sotong-intake",
    "moderation-worker": "sotong-moderation-batch",
    "alerting-worker": "sotong-alerting",
    "partner-worker": "sotong-partner",
    "community-worker": "sotong-community-batch",
}
# Processes that talk to no Kafka (the gateway calls the services over gRPC): their ConfigMap has no Kafka keys.
NO_KAFKA = {"gateway-api", "console-web"}
DEV_SECRET_MARKER = "dev-only"
STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")

Obj = dict[str, Any]
Render = Callable[[Path], list[Obj]]


def catalog() -> list[Obj]:
    """The topic catalog's entries, defaults applied (read as YAML so the test needs no service package)."""
    raw = yaml.safe_load(TOPIC_CATALOG.read_text(encoding="utf-8"))
    return [{**raw.get("defaults", {}), **entry} for entry in raw["topics"]]


def dispatch_lanes() -> dict[str, set[str]]:
    """Lane -> the catalog's dispatch-request topics of that lane."""
    lanes: dict[str, set[str]] = {"emergency": set(), "routine": set()}
    for topic in catalog():
        if topic.get("kind") == "dispatch-request":
            lanes[topic["lane"]].add(topic["name"])
    return lanes


# ---------------------------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def rendered(kustomize: Render) -> dict[str, list[Obj]]:
    """Every overlay and every service base, rendered once."""
    out = {name: kustomize(K8S / "overlays" / name) for name in OVERLAYS}
    out.update({f"base/{svc}": kustomize(K8S / "base" / svc) for svc in SERVICES})
    return out


def test_kustomize_is_the_pinned_version() -> None:
    """The renderer is the version `make k8s-tools` installs; an older binary left in .venv would be rebuilt."""
    pinned = re.search(r"^KUSTOMIZE_VERSION := (\S+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert pinned is not None, "the Makefile pins no KUSTOMIZE_VERSION"
    if not KUSTOMIZE.is_file():
        pytest.fail(f"kustomize is not at {KUSTOMIZE.relative_to(ROOT)}: run `make k8s-tools`")
    shown = subprocess.run([str(KUSTOMIZE), "version"], capture_output=True, text=True, timeout=30, check=True)
    assert shown.stdout.strip() == pinned.group(1)


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
    public = env.get(SEAL_PUBLIC_KEYS)
    if name in PUBLIC_KEYS_READ:
        ref = (public or {}).get("valueFrom", {}).get("configMapKeyRef", {})
        if {k: ref.get(k) for k in SEAL_PUBLIC_REF} != SEAL_PUBLIC_REF:
            problem(f"{SEAL_PUBLIC_KEYS} is not taken from ConfigMap {SEAL_PUBLIC_REF['name']} key public-keys")
    elif public is not None:
        problem(f"is given {SEAL_PUBLIC_KEYS}, which this process does not read")
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
    kinds = kind.split("+")  # "grpc+http": a process serving both (the gateway)
    for other, (port_name, _, variable, _) in ((k, v) for k, v in SERVING.items() if v and k not in kinds):
        if port_name in ports or variable in env:
            problem(f"a {kind} process serves no {other} but declares {port_name} ({variable})")
    for serving in (SERVING[k] for k in kinds):
        if serving is None:
            continue
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
        if "grpc" in kinds:  # a process with a gRPC door is probed on its gRPC health
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
        for serving in (SERVING.get(k) for k in (kind or "consumer").split("+")):
            if serving is None:
                continue
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
                kafka = workload["metadata"]["name"] not in NO_KAFKA
                if kafka and not data.get("SOTONG_KAFKA_BOOTSTRAP"):
                    problems.append(f"ConfigMap/{ref['name']} has no SOTONG_KAFKA_BOOTSTRAP")
                if kafka and data.get("SOTONG_TOPIC_REPLICATION") != replication:
                    problems.append(f"ConfigMap/{ref['name']} SOTONG_TOPIC_REPLICATION is not {replication}")
                if data.get("SOTONG_LOG_LEVEL") not in {"debug", "info", "warning", "error"}:
                    problems.append(f"ConfigMap/{ref['name']} SOTONG_LOG_LEVEL is not a level")
            # single values from a ConfigMap (the public sealing keys): `optional` keeps a pod starting without
            # it, so a misspelt name would silently turn the feature off; in an overlay every one must resolve
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref is None:
                    continue
                config_map = named(objects, "ConfigMap", ref["name"])
                if config_map is None or ref["key"] not in config_map.get("data", {}):
                    problems.append(
                        f"{workload['kind']}/{workload['metadata']['name']}: {entry['name']} refers to "
                        f"ConfigMap {ref['name']} key {ref['key']}, which is not rendered"
                    )
    return problems


def split_image(image: str) -> tuple[str, str]:
    """'sotong/intake:0.1.0@sha256:…' -> ('sotong/intake', ':0.1.0@sha256:…'); a registry port is not a tag."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:] + at + digest
    return name, at + digest


def check_images(objects: list[Obj], tag: str | None) -> list[str]:
    problems = []
    for workload in workloads(objects):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in containers_of(workload):
            image = container["image"]
            _, suffix = split_image(image)
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
        if kind in {"grpc", "http", "grpc+http"}:
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


def consumer_groups(deployment: str) -> dict[str, set[str] | None]:
    """The consumer groups a consumer process joins -> the topics whose lag must be watched for it (None: one
    trigger on any catalog topic the group reads will do). A Faust worker or the batch consumer is one group
    (CONSUMER_GROUPS); the publishing engine is one group per channel and lane, reading every dispatch-request
    topic of its lane, and every group on every topic must be watched: a requester's topic nobody watches
    would queue without adding a pod."""
    if deployment == "publishing-dispatch":
        groups: dict[str, set[str] | None] = {
            f"sotong-publishing-{channel}-{lane}": set(lane_topics)
            for channel in DISPATCH_CHANNELS
            for lane, lane_topics in dispatch_lanes().items()
        }
        feeds = {t["name"] for t in catalog() if t.get("kind") == "directory-feed"}
        if feeds:  # the directory feeds' Faust worker (sotong_publishing.worker.follow_directory)
            groups["sotong-publishing-directory"] = feeds
        return groups
    return {CONSUMER_GROUPS[deployment]: None}


def check_scaled_object(scaled: Obj, deployment: Obj, objects: list[Obj], partitions: dict[str, int]) -> list[str]:
    """A consumer's KEDA ScaledObject against its Deployment: target, bounds, bootstrap, and every group watched
    on each of its topics, never past a topic's partition count."""
    name = scaled["metadata"]["name"]
    problems = []
    spec = scaled["spec"]
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
    watched = {(t.get("metadata", {}).get("consumerGroup"), t.get("metadata", {}).get("topic")) for t in kafka}
    for group, topics in sorted(groups.items()):
        if topics is None:
            if not any(g == group for g, _ in watched):
                problems.append(f"ScaledObject/{name} does not watch the lag of group {group}")
            continue
        for topic in sorted(topics - {t for g, t in watched if g == group}):
            problems.append(f"ScaledObject/{name} does not watch the lag of group {group} on {topic}")
    for trigger in kafka:
        meta = trigger.get("metadata", {})
        if meta.get("bootstrapServers") not in bootstraps:
            problems.append(f"ScaledObject/{name} bootstrapServers differs from SOTONG_KAFKA_BOOTSTRAP {bootstraps}")
        group, topic = meta.get("consumerGroup"), meta.get("topic")
        if group not in groups:
            problems.append(f"ScaledObject/{name} watches group {group}; the process's groups are {sorted(groups)}")
        elif (topics := groups[group]) is not None and topic not in topics:
            problems.append(f"ScaledObject/{name} watches group {group} on {topic}; it reads {sorted(topics)}")
        if topic not in partitions:
            problems.append(f"ScaledObject/{name} watches {topic}, which is not in the topic catalog")
        elif high > partitions[topic]:
            problems.append(f"ScaledObject/{name} may scale to {high}, past {topic}'s {partitions[topic]} partitions")
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
    """Built-in kinds against the Kubernetes OpenAPI schemas (strict: no unknown fields); custom resources
    through `custom_problems`; any other kind is an error (no schema, no check)."""
    problems: list[str] = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        problems.extend(f"{where}: {p}" for p in name_problems(obj))
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
            problems.extend(f"{where}: {p}" for p in custom_problems(obj))
            continue
        problems.extend(f"{where}: {p}" for p in validate(obj))
    return problems


def validate(obj: Obj) -> list[str]:
    """kubernetes-validate in strict mode against every version in KUBERNETES_VERSIONS."""
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kv_utils.SchemaNotFoundError:
            problems.append(f"no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes {version}")
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"invalid for Kubernetes {version} at {path or '(root)'}: {exc.message}")
    return problems


# RFC 1123 names as the API server checks them (the OpenAPI schemas do not): a subdomain for most objects'
# names, a label value, and a label key's name part (with an optional DNS-subdomain prefix).
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def name_problems(obj: Obj) -> list[str]:
    """Name and label syntax, which the API server enforces and no OpenAPI schema expresses."""
    problems = []
    meta = obj.get("metadata", {})
    name = str(meta.get("name", ""))
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(f"name {name!r} is not a DNS subdomain (RFC 1123)")
    for key, value in meta.get("labels", {}).items():
        prefix, _, label = str(key).rpartition("/")
        if (prefix and not _SUBDOMAIN.match(prefix)) or len(label) > 63 or not _LABEL_NAME.match(label):
            problems.append(f"label key {key!r} is not a valid label name")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(f"label {key}={value!r} is not a valid label value")
    return problems


# -------------------------------------------------------------------------------------- custom resources
# No schema for KEDA's and Strimzi's CRDs ships with kubernetes-validate, and none can be fetched offline
# (kubeconform would download them at run time). So what can be checked without one is checked here: the parts
# that are Kubernetes types (ObjectMeta, an HPA's scaleTargetRef and behavior) by validating them inside a
# built-in object with the real schema, and the rest against the fields, types and values these operators
# document (KEDA 2.x ScaledObject with the kafka scaler, Strimzi KafkaTopic v1beta2), unknown fields refused.

_SCALED_OBJECT_SPEC = {
    "scaleTargetRef": dict,
    "minReplicaCount": int,
    "maxReplicaCount": int,
    "idleReplicaCount": int,
    "pollingInterval": int,
    "cooldownPeriod": int,
    "initialCooldownPeriod": int,
    "advanced": dict,
    "fallback": dict,
    "triggers": list,
}
_KAFKA_TRIGGER_METADATA = {
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "partitionLimitation",
    "version",
    "sasl",
    "tls",
}
_TRUE_FALSE = {"true", "false"}
_KAFKA_TOPIC_SPEC = {"partitions": int, "replicas": int, "config": dict, "topicName": str}
# Kafka's topic-level configuration names (Kafka 3.x/4.x, `kafka-configs.sh --entity-type topics`); the Topic
# Operator passes config through, so a misspelt name would only fail in the cluster.
KAFKA_TOPIC_CONFIGS = {
    "cleanup.policy",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
}


def _typed(spec: Obj, fields: dict[str, type], what: str) -> list[str]:
    problems = [f"{what} has unknown field {key}" for key in sorted(set(spec) - set(fields))]
    for key, kind in fields.items():
        # bool is an int in Python; YAML `true` where a count belongs is still wrong
        if key in spec and (not isinstance(spec[key], kind) or (kind is int and isinstance(spec[key], bool))):
            problems.append(f"{what}.{key} is not {'an object' if kind is dict else kind.__name__}")
    return problems


def custom_problems(obj: Obj) -> list[str]:
    """A custom resource's metadata with the real ObjectMeta schema, its spec by kind."""
    shell = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
    problems = [f"metadata: {p}" for p in validate(shell)]
    unknown = sorted(set(obj) - {"apiVersion", "kind", "metadata", "spec"})
    if unknown:
        problems.append(f"has unknown top-level fields {unknown}")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [*problems, "has no spec"]
    if (obj["apiVersion"], obj["kind"]) == SCALED_OBJECT:
        problems.extend(scaled_object_problems(spec))
    else:
        problems.extend(kafka_topic_problems(obj, spec))
    return problems


def scaled_object_problems(spec: Obj) -> list[str]:
    """KEDA ScaledObject: documented fields and types; scaleTargetRef and the HPA behavior as the HPA schema has
    them; kafka triggers with known metadata keys and string values (the CRD types metadata as a string map)."""
    problems = _typed(spec, _SCALED_OBJECT_SPEC, "spec")
    target = spec.get("scaleTargetRef")
    if not isinstance(target, dict) or not target.get("name"):
        problems.append("spec.scaleTargetRef has no name")
        target = {"name": "missing"}
    hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "check"},
        "spec": {
            # envSourceContainerName is KEDA's own; the rest is the HPA's CrossVersionObjectReference
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                **{k: v for k, v in target.items() if k != "envSourceContainerName"},
            },
            "maxReplicas": 1,
        },
    }
    advanced = spec.get("advanced", {})
    problems.extend(_typed(advanced, {"horizontalPodAutoscalerConfig": dict, "restoreToOriginalReplicaCount": bool,
                                      "scalingModifiers": dict}, "spec.advanced"))  # fmt: skip
    hpa_config = advanced.get("horizontalPodAutoscalerConfig", {})
    problems.extend(_typed(hpa_config, {"behavior": dict, "name": str}, "spec.advanced.horizontalPodAutoscalerConfig"))
    if "behavior" in hpa_config:
        hpa["spec"]["behavior"] = hpa_config["behavior"]
    problems.extend(f"scaleTargetRef or behavior: {p}" for p in validate(hpa))
    for field in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        if isinstance(spec.get(field), int) and spec[field] < 0:
            problems.append(f"spec.{field} is negative")
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        return [*problems, "spec.triggers is empty"]
    for index, trigger in enumerate(triggers):
        where = f"spec.triggers[{index}]"
        if not isinstance(trigger, dict):
            problems.append(f"{where} is not an object")
            continue
        problems.extend(_typed(trigger, {"type": str, "metadata": dict, "name": str, "authenticationRef": dict,
                                         "metricType": str, "useCachedMetrics": bool}, where))  # fmt: skip
        meta = trigger.get("metadata", {})
        for key, value in meta.items():
            if not isinstance(value, str):
                problems.append(f"{where}.metadata.{key} is {type(value).__name__}; KEDA takes strings only")
        if trigger.get("type") != "kafka":
            continue
        for key in sorted(set(meta) - _KAFKA_TRIGGER_METADATA):
            problems.append(f"{where}.metadata has {key}, which the kafka scaler does not know")
        for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
            if not meta.get(key):
                problems.append(f"{where}.metadata.{key} is not set")
        for key in ("lagThreshold", "activationLagThreshold"):
            if key in meta and not (str(meta[key]).isdigit() and int(meta[key]) > 0):
                problems.append(f"{where}.metadata.{key} is not a positive whole number")
        if meta.get("offsetResetPolicy", "latest") not in {"earliest", "latest"}:
            problems.append(f"{where}.metadata.offsetResetPolicy is not earliest or latest")
        for key in ("allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset"):
            if key in meta and meta[key] not in _TRUE_FALSE:
                problems.append(f"{where}.metadata.{key} is not 'true' or 'false'")
    return problems


def kafka_topic_problems(obj: Obj, spec: Obj) -> list[str]:
    """Strimzi KafkaTopic: the CRD's fields and bounds, the cluster label the Topic Operator selects on, a topic
    name Kafka accepts, and config entries that are Kafka topic configs with values of the right shape."""
    problems = _typed(spec, _KAFKA_TOPIC_SPEC, "spec")
    if not obj["metadata"].get("labels", {}).get("strimzi.io/cluster"):
        problems.append("has no strimzi.io/cluster label: no Topic Operator would take it")
    topic = spec.get("topicName", obj["metadata"].get("name", ""))
    if not re.match(r"^[a-zA-Z0-9._-]{1,249}$", str(topic)) or topic in {".", ".."}:
        problems.append(f"topic name {topic!r} is not a legal Kafka topic name")
    partitions, replicas = spec.get("partitions"), spec.get("replicas")
    if not isinstance(partitions, int) or partitions < 1:
        problems.append("spec.partitions is not a whole number >= 1")
    if not isinstance(replicas, int) or not 1 <= replicas <= 32767:
        problems.append("spec.replicas is not a whole number in 1..32767")
    config = spec.get("config", {})
    for key in sorted(set(config) - KAFKA_TOPIC_CONFIGS):
        problems.append(f"spec.config has {key}, which is not a Kafka topic config")
    for key, value in config.items():
        text = str(value)
        if key.endswith((".ms", ".bytes", ".messages")) and not re.match(r"^-?\d+$", text):
            problems.append(f"spec.config.{key}={text!r} is not a whole number")
    policy = {p.strip() for p in str(config.get("cleanup.policy", "delete")).split(",")}
    if not policy or policy - {"delete", "compact"}:
        problems.append(f"spec.config.cleanup.policy {config.get('cleanup.policy')!r} is not delete and/or compact")
    min_isr = config.get("min.insync.replicas")
    if min_isr is not None and (not str(min_isr).isdigit() or (isinstance(replicas, int) and int(min_isr) > replicas)):
        problems.append(f"spec.config.min.insync.replicas {min_isr!r} is not a count <= spec.replicas")
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
        for doc in (d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d):
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
    # the publishing engine
    "dispatch without probes": lambda o: _drop(_container(o, "publishing-dispatch"), "startupProbe", "livenessProbe"),
    "dispatch PDB missing": lambda o: o.remove(_object(o, "PodDisruptionBudget", "publishing-dispatch")),
    "dispatch runs as root": lambda o: _deployment(o, "publishing-dispatch")["spec"]["template"]["spec"][
        "securityContext"
    ].update(runAsUser=0, runAsNonRoot=False),
    "dispatch with a grpc port": lambda o: _container(o, "publishing-dispatch")["ports"].append(
        {"name": "grpc", "containerPort": GRPC_PORT}
    ),
    "provider token as plain env": lambda o: _set_env(o, "publishing-dispatch", PROVIDER_TOKEN, {"value": "t0ken"}),
    "seal keys as plain env": lambda o: _set_env(o, "publishing-dispatch", SEAL_KEYS, {"value": "k1:AAAA"}),
    "dispatch without its seal keys": lambda o: _container(o, "publishing-dispatch").update(
        env=[e for e in _container(o, "publishing-dispatch")["env"] if e["name"] != SEAL_KEYS]
    ),
    "private seal keys given to intake": lambda o: _set_env(
        o,
        "intake-worker",
        SEAL_KEYS,
        {"valueFrom": {"secretKeyRef": {"name": "publishing-secrets", "key": "seal-keys"}}},
    ),
    "dispatch without resources": lambda o: _container(o, "publishing-dispatch").pop("resources"),
    "dispatch on the alerting image": lambda o: _container(o, "publishing-dispatch").update(
        image="sotong/alerting:0.1.0"
    ),
    "dispatch runs the old command": lambda o: _container(o, "publishing-dispatch").update(
        command=["sotong-alerting-dispatch"]
    ),
    "dispatch back inside alerting": lambda o: o.remove(_deployment(o, "publishing-dispatch")),
    # the public sealing keys: every requester, from the one ConfigMap
    "requester without public keys": lambda o: _container(o, "intake-http").update(
        env=[e for e in _container(o, "intake-http")["env"] if e["name"] != SEAL_PUBLIC_KEYS]
    ),
    "public keys from another ConfigMap": lambda o: _set_env(
        o, "intake-api", SEAL_PUBLIC_KEYS, {"valueFrom": {"configMapKeyRef": {"name": "intake-config", "key": "k"}}}
    ),
    "public keys as a literal": lambda o: _set_env(o, "intake-worker", SEAL_PUBLIC_KEYS, {"value": "k1:AAAA"}),
    "public keys given to the purge": lambda o: _cron_container(o, "intake-purge")["env"].append(
        {"name": SEAL_PUBLIC_KEYS, "valueFrom": {"configMapKeyRef": SEAL_PUBLIC_REF}}
    ),
    # alerting
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
def test_pattern_checks_fail_on_a_broken_manifest(mutation: str, kustomize: Render) -> None:
    objects = kustomize(K8S / "overlays" / "prod")
    assert pattern_problems(objects) == []
    MUTATIONS[mutation](objects)
    assert pattern_problems(objects) != [], f"a manifest with '{mutation}' passed the pattern checks"


def test_schema_check_fails_on_an_unknown_or_mistyped_field(kustomize: Render) -> None:
    objects = kustomize(K8S / "base" / "intake")

    def broken(kind: str, name: str, change: Callable[[Obj], None]) -> list[str]:
        obj = copy.deepcopy(_object(objects, kind, name))
        assert schema_problems([obj]) == []
        change(obj)
        return schema_problems([obj])

    assert broken("Deployment", "intake-api", lambda d: containers_of(d)[0]["readinessProbe"].update(grpcc={}))
    assert broken("Deployment", "intake-worker", lambda d: d["spec"].update(replicas="two"))
    assert broken("Service", "intake-api", lambda s: s["metadata"].update(name="Intake_API"))
    assert broken(
        "Service", "intake-http", lambda s: s["metadata"]["labels"].update({"app.kubernetes.io/part-of": "a b"})
    )
    assert schema_problems([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])


# Custom resources broken in the ways their CRDs or operators would refuse (or silently misread).
CUSTOM_MUTATIONS: dict[str, tuple[str, str, Mutation]] = {
    "ScaledObject unknown spec field": (
        "prod",
        "publishing-dispatch",
        lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"].update(maxReplicas=6),
    ),
    "ScaledObject count as a string": (
        "prod",
        "intake-worker",
        lambda o: _object(o, "ScaledObject", "intake-worker")["spec"].update(maxReplicaCount="6"),
    ),
    "ScaledObject lag threshold as a number": (
        "prod",
        "moderation-worker",
        lambda o: _object(o, "ScaledObject", "moderation-worker")["spec"]["triggers"][0]["metadata"].update(
            lagThreshold=50
        ),
    ),
    "ScaledObject misspelt scaler field": (
        "prod",
        "alerting-worker",
        lambda o: _object(o, "ScaledObject", "alerting-worker")["spec"]["triggers"][0]["metadata"].update(
            consumergroup="sotong-alerting"
        ),
    ),
    "ScaledObject trigger without a topic": (
        "prod",
        "publishing-dispatch",
        lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"]["triggers"][0]["metadata"].pop("topic"),
    ),
    "ScaledObject bad offset reset": (
        "prod",
        "intake-worker",
        lambda o: _object(o, "ScaledObject", "intake-worker")["spec"]["triggers"][0]["metadata"].update(
            offsetResetPolicy="oldest"
        ),
    ),
    "ScaledObject bad HPA behavior": (
        "prod",
        "publishing-dispatch",
        lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"]["advanced"][
            "horizontalPodAutoscalerConfig"
        ]["behavior"]["scaleDown"].update(stabilisationWindowSeconds=300),
    ),
    "ScaledObject unknown metadata field": (
        "prod",
        "intake-worker",
        lambda o: _object(o, "ScaledObject", "intake-worker")["metadata"].update(label={"a": "b"}),
    ),
    "ScaledObject without triggers": (
        "prod",
        "moderation-worker",
        lambda o: _object(o, "ScaledObject", "moderation-worker")["spec"].update(triggers=[]),
    ),
    "KafkaTopic without cluster label": (
        "topics",
        "alerting.dispatch-emergency.v1",
        lambda o: _object(o, "KafkaTopic", "alerting.dispatch-emergency.v1")["metadata"]["labels"].pop(
            "strimzi.io/cluster"
        ),
    ),
    "KafkaTopic no partitions": (
        "topics",
        "intake.dispatch-requested.v1",
        lambda o: _object(o, "KafkaTopic", "intake.dispatch-requested.v1")["spec"].update(partitions=0),
    ),
    "KafkaTopic replicas as a string": (
        "topics",
        "publishing.delivery-reported.v1",
        lambda o: _object(o, "KafkaTopic", "publishing.delivery-reported.v1")["spec"].update(replicas="3"),
    ),
    "KafkaTopic misspelt config": (
        "topics",
        "moderation.decision-made.v1",
        lambda o: _object(o, "KafkaTopic", "moderation.decision-made.v1")["spec"]["config"].update(
            {"retention.msec": "1000"}
        ),
    ),
    "KafkaTopic retention not a number": (
        "topics",
        "alerting.incident-changed.v1",
        lambda o: _object(o, "KafkaTopic", "alerting.incident-changed.v1")["spec"]["config"].update(
            {"retention.ms": "a year"}
        ),
    ),
    "KafkaTopic min ISR above replicas": (
        "topics",
        "intake.submission-received.v1",
        lambda o: _object(o, "KafkaTopic", "intake.submission-received.v1")["spec"]["config"].update(
            {"min.insync.replicas": "4"}
        ),
    ),
    "KafkaTopic unknown spec field": (
        "topics",
        "intake.raw-submission.v1",
        lambda o: _object(o, "KafkaTopic", "intake.raw-submission.v1")["spec"].update(partition=6),
    ),
    "KafkaTopic bad cleanup policy": (
        "topics",
        "intake.raw-submission.v1.dlq",
        lambda o: _object(o, "KafkaTopic", "intake.raw-submission.v1.dlq")["spec"]["config"].update(
            {"cleanup.policy": "remove"}
        ),
    ),
}


@pytest.mark.parametrize("mutation", sorted(CUSTOM_MUTATIONS))
def test_custom_resource_checks_fail_on_a_broken_resource(mutation: str, kustomize: Render) -> None:
    target, name, mutate = CUSTOM_MUTATIONS[mutation]
    objects = kustomize(K8S / "base" / "kafka-topics" if target == "topics" else K8S / "overlays" / target)
    resource = [o for o in objects if o["kind"] in {"ScaledObject", "KafkaTopic"} and o["metadata"]["name"] == name]
    assert len(resource) == 1
    assert schema_problems(resource) == []
    mutate(objects)
    assert schema_problems(resource) != [], f"a resource with '{mutation}' passed the custom resource checks"


def test_kafka_topics_are_valid(kustomize: Render) -> None:
    """The generated Strimzi topics (not part of an overlay: they go to the Kafka cluster's namespace)."""
    objects = kustomize(K8S / "base" / "kafka-topics")
    assert {(o["apiVersion"], o["kind"]) for o in objects} == {KAFKA_TOPIC}
    assert schema_problems(objects) == []


def test_secret_checks_fail_on_a_real_looking_secret(kustomize: Render) -> None:
    objects = kustomize(K8S / "overlays" / "dev")
    secret = named(objects, "Secret", "intake-secrets")
    assert secret is not None
    secret["data"]["jwt-secret"] = base64.b64encode(b"some-real-looking-key").decode()
    assert check_secrets(objects, fake_allowed=True) != []
    prod = kustomize(K8S / "overlays" / "prod")
    prod.append(copy.deepcopy(secret))
    assert check_secrets(prod, fake_allowed=False) != []
    objects = kustomize(K8S / "overlays" / "dev")
    secret = _object(objects, "Secret", "publishing-secrets")
    secret["data"]["seal-keys"] = base64.b64encode(b"k1:" + base64.b64encode(b"x" * 32)).decode()
    assert check_secrets(objects, fake_allowed=True) != []


def test_config_map_check_fails_on_a_reference_to_nowhere(kustomize: Render) -> None:
    objects = kustomize(K8S / "overlays" / "prod")
    assert check_config_maps(objects, "3") == []
    _set_env(
        objects,
        "intake-http",
        SEAL_PUBLIC_KEYS,
        {"valueFrom": {"configMapKeyRef": {"name": "publishing-seal", "key": "public-key", "optional": True}}},
    )
    assert check_config_maps(objects, "3") != []
    objects = kustomize(K8S / "overlays" / "prod")
    objects.remove(_object(objects, "ConfigMap", "publishing-seal"))
    assert check_config_maps(objects, "3") != []


def test_autoscaling_checks_fail_past_the_partition_count_or_on_the_wrong_group(kustomize: Render) -> None:
    prod = kustomize(K8S / "overlays" / "prod")

    def broken(change: Callable[[list[Obj]], None]) -> list[str]:
        objects = copy.deepcopy(prod)
        change(objects)
        return check_autoscaling(objects)

    def triggers(objects: list[Obj], name: str) -> list[Obj]:
        found: list[Obj] = _object(objects, "ScaledObject", name)["spec"]["triggers"]
        return found

    assert check_autoscaling(prod) == []
    assert broken(lambda o: _object(o, "ScaledObject", "moderation-worker")["spec"].update(maxReplicaCount=64))
    assert broken(lambda o: triggers(o, "intake-worker")[0]["metadata"].update(consumerGroup="intake"))
    # moderation's batch consumer joins sotong-moderation-batch, not the Faust-style sotong-moderation
    assert broken(lambda o: triggers(o, "moderation-worker")[0]["metadata"].update(consumerGroup="sotong-moderation"))
    assert broken(lambda o: o.remove(_object(o, "HorizontalPodAutoscaler", "intake-api")))
    assert broken(lambda o: o.remove(_object(o, "HorizontalPodAutoscaler", "intake-http")))
    assert broken(lambda o: triggers(o, "alerting-worker")[2]["metadata"].update(topic="alerting.delivery-reported.v1"))
    # the publishing engine: every channel and lane watched, on every topic of its lane and no other
    assert broken(
        lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"].update(
            triggers=[
                t for t in triggers(o, "publishing-dispatch") if "-kakao_bot-" not in t["metadata"]["consumerGroup"]
            ]
        )
    )
    assert broken(
        lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"].update(
            triggers=[
                t
                for t in triggers(o, "publishing-dispatch")
                if t["metadata"]["topic"] != "intake.dispatch-requested.v1"
            ]
        )
    )
    assert broken(
        lambda o: triggers(o, "publishing-dispatch")[0]["metadata"].update(topic="alerting.dispatch-routine.v1")
    )
    assert broken(
        lambda o: triggers(o, "publishing-dispatch")[0]["metadata"].update(
            consumerGroup="sotong-alerting-dispatch-chat-emergency"
        )
    )
    assert broken(lambda o: _object(o, "ScaledObject", "publishing-dispatch")["spec"].update(maxReplicaCount=12))
    assert broken(lambda o: triggers(o, "publishing-dispatch")[0]["metadata"].update(bootstrapServers="kafka:9092"))


# ------------------------------------------------------- the manifests against the code's settings classes

# Which settings class each workload's process loads (`<class>.load_or_exit()` in its main()).
SETTINGS_CLASSES = {
    "intake-api": ("sotong_intake.settings", "Api"),
    "intake-http": ("sotong_intake.settings", "Http"),
    "intake-worker": ("sotong_intake.settings", "Worker"),
    "intake-purge": ("sotong_intake.settings", "Purge"),
    "moderation-api": ("sotong_moderation.settings", "Api"),
    "moderation-worker": ("sotong_moderation.settings", "Worker"),
    "alerting-api": ("sotong_alerting.settings", "Api"),
    "alerting-worker": ("sotong_alerting.settings", "Worker"),
    "publishing-dispatch": ("sotong_publishing.settings", "Dispatch"),
    "partner-api": ("sotong_partner.settings", "Api"),
    "partner-http": ("sotong_partner.settings", "Http"),
    "partner-worker": ("sotong_partner.settings", "Worker"),
    "gateway-api": ("sotong_gateway.settings", "Gateway"),
    "community-api": ("sotong_community.settings", "Api"),
    "community-worker": ("sotong_community.settings", "Worker"),
    "console-web": ("sotong_console.settings", "Console"),
}


def _settings_of(workload: str) -> list[Any]:
    """The `config.Setting`s behind the fields of the workload's settings class."""
    module_name, attribute = SETTINGS_CLASSES[workload]
    module = pytest.importorskip(module_name, reason="the service packages are not installed")
    settings: list[Any] = getattr(module, attribute).variables()
    return settings


def settings_problems(objects: list[Obj]) -> list[str]:
    """Each process gets every variable its settings require, its secrets through secretKeyRef and nothing
    the code does not read; every value the manifests hold (Secrets too, in dev) parses as the code parses it;
    every ConfigMap key is read by some process."""
    problems = []
    secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    config_maps = {c["metadata"]["name"]: c.get("data", {}) for c in of_kind(objects, "ConfigMap")}
    config_keys: dict[str, set[str]] = {name: set() for name in config_maps}
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        where = f"{workload['kind']}/{name}"
        settings = {s.env: s for s in _settings_of(name)}
        for container in containers_of(workload):
            values: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    ref = source["configMapRef"]["name"]
                    values.update(config_maps.get(ref, {}))
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
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"] in config_maps.get(ref["name"], {}):
                    values[variable] = str(config_maps[ref["name"]][ref["key"]])
                    config_keys.setdefault(ref["name"], set()).add(ref["key"])
            for variable, setting in settings.items():
                # as config._read: an empty value is no value (the default, or "required" if there is none)
                given = values.get(variable, "") != "" or (variable in env and variable not in values)
                if setting.required and not given:
                    problems.append(f"{where}: {variable} is required by the code and not set")
                if values.get(variable, "") != "":
                    try:
                        setting.parse(values[variable])
                    except (ValueError, TypeError) as exc:
                        problems.append(f"{where}: {variable}={values[variable][:40]!r} does not parse: {exc}")
            secret_settings = {v for v, s in settings.items() if s.secret}
            if secret_settings != SECRETS_READ.get(name):
                problems.append(
                    f"{where}: the code's secrets are {sorted(secret_settings)}, SECRETS_READ says otherwise"
                )
            if (SEAL_PUBLIC_KEYS in settings) != (name in PUBLIC_KEYS_READ):
                problems.append(f"{where}: whether the code reads {SEAL_PUBLIC_KEYS} differs from PUBLIC_KEYS_READ")
            for variable in OPTIONAL_SECRETS & secret_settings:
                if settings[variable].required:
                    problems.append(f"{variable} is required by the code, yet OPTIONAL_SECRETS lets a Secret omit it")
    for config_map, read in config_keys.items():
        for key in sorted(set(config_maps.get(config_map, {})) - read):
            problems.append(f"ConfigMap/{config_map}: {key} is read by none of the processes")
    return problems


def sealing_problems(objects: list[Obj]) -> list[str]:
    """Where both halves of the sealing keys are in the manifests (dev), what a requester seals the engine opens."""
    sealing = pytest.importorskip("sotong_common.sealing", reason="the service packages are not installed")
    public = (named(objects, "ConfigMap", SEAL_PUBLIC_REF["name"]) or {}).get("data", {}).get("public-keys", "")
    secret = named(objects, "Secret", "publishing-secrets")
    if secret is None or "seal-keys" not in secret.get("data", {}):
        return [] if not public else ["public sealing keys are set but the overlay has no private ones to match"]
    if not public:
        return ["the overlay has private sealing keys but no public ones: intake would send no replies"]
    private = base64.b64decode(secret["data"]["seal-keys"]).decode()
    try:
        sealed = sealing.Sealer.from_config(public).seal("+82-10-0000-0000", "intake:contact:check")
        opened = sealing.Opener.from_config(private).open(sealed.key_id, sealed.ciphertext, sealed.ref)
    except ValueError as exc:
        return [f"the public sealing keys do not pair with publishing-secrets' seal-keys: {exc}"]
    return [] if opened == "+82-10-0000-0000" else ["a sealed target opened to something else"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_match_the_settings_classes(overlay: str, rendered: dict[str, list[Obj]]) -> None:
    assert settings_problems(rendered[overlay]) == []
    assert sealing_problems(rendered[overlay]) == []


def test_settings_check_fails_on_a_typo_a_missing_variable_or_a_bad_value(kustomize: Render) -> None:
    dev = kustomize(K8S / "overlays" / "dev")
    assert settings_problems(dev) == []

    def broken(change: Callable[[list[Obj]], None]) -> list[str]:
        objects = copy.deepcopy(dev)
        change(objects)
        return settings_problems(objects)

    def config(objects: list[Obj], name: str) -> Obj:
        data: Obj = _object(objects, "ConfigMap", name)["data"]
        return data

    assert broken(lambda o: _set_env(o, "intake-http", "SOTONG_HTTP_PROT", {"value": "8080"}))
    assert broken(lambda o: config(o, "publishing-config").pop("SOTONG_PUBLISHING_PROVIDERS"))
    assert broken(lambda o: config(o, "publishing-config").update(SOTONG_PUBLISHING_PROVIDERS='{"fax": "x"}'))
    assert broken(lambda o: config(o, "publishing-config").update(SOTONG_PUBLISHING_PROVIDERS=""))
    # the old engine's variables are read by nobody now
    assert broken(lambda o: config(o, "alerting-config").update(SOTONG_ALERTING_DISPATCH_PROVIDERS="{}"))
    assert broken(lambda o: config(o, "publishing-seal").update({"public-keys": "k1:not-a-key"}))
    assert broken(lambda o: config(o, "publishing-seal").update({"public-key": "k1:typo"}))
    assert broken(
        lambda o: _object(o, "Secret", "intake-secrets")["data"].update(
            {"webhook-secrets": base64.b64encode(b"sns=whsec_dev-only").decode()}
        )
    )
    assert broken(
        lambda o: _object(o, "Secret", "publishing-secrets")["data"].update(
            {"seal-keys": base64.b64encode(b"dev1:dev-only").decode()}
        )
    )


def test_sealing_check_fails_on_keys_that_do_not_pair(kustomize: Render) -> None:
    sealing = pytest.importorskip("sotong_common.sealing", reason="the service packages are not installed")
    objects = kustomize(K8S / "overlays" / "dev")
    assert sealing_problems(objects) == []
    _, other_public = sealing.new_pair("dev1")
    _object(objects, "ConfigMap", "publishing-seal")["data"]["public-keys"] = other_public
    assert sealing_problems(objects) != []
    _object(objects, "ConfigMap", "publishing-seal")["data"]["public-keys"] = ""
    assert sealing_problems(objects) != []


def test_console_scripts_and_consumer_groups_are_the_codes() -> None:
    """The commands the manifests run exist, and the groups KEDA watches are the ones the processes join."""
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
    streams = pytest.importorskip("sotong_common.streams")
    batching = pytest.importorskip("sotong_common.batching")
    assert set(engine_settings.CHANNELS) == set(DISPATCH_CHANNELS)
    if topics.PREFIX:
        pytest.skip("SOTONG_TOPIC_PREFIX is set: topic and group names carry it")
    assert set(lanes.LANES) == set(dispatch_lanes())
    assert {lane: set(lanes.lane_topics(lane)) for lane in lanes.LANES} == dispatch_lanes()
    engine_groups = {lanes.group_id(channel, lane) for channel in DISPATCH_CHANNELS for lane in lanes.LANES}
    assert engine_groups == set(consumer_groups("publishing-dispatch")) - {streams.app_id("publishing-directory")}
    assert {
        "intake-worker": streams.app_id("intake"),
        "moderation-worker": batching.BatchConsumer("moderation", "kafka:9092").group,
        "alerting-worker": streams.app_id("alerting"),
        "partner-worker": streams.app_id("partner"),
        "community-worker": batching.BatchConsumer("community", "kafka:9092").group,
    } == CONSUMER_GROUPS
