"""A small kustomize renderer, enough for k8s/ and no more, so the manifests can be checked without kubectl.

kustomize itself is a Go program: it is not on PyPI or npm as something that installs offline, and kubectl is
not on every machine. This renderer implements exactly the subset of the Kustomization file that k8s/ uses and
refuses anything else, so an overlay cannot quietly use a feature that is rendered differently here:

- resources: YAML files and directories that hold a kustomization.yaml (rendered recursively);
- namespace: set on every namespaced object; a Namespace object is renamed to it (as kustomize does);
- images: name -> newName/newTag/digest on containers and initContainers of pod templates (CronJobs' too);
- replicas: name -> count on Deployments and StatefulSets;
- patches: `path:` strategic-merge patches that name their target by apiVersion, kind and metadata.name;
  lists merge by the Kubernetes merge keys used here (containers and volumes by name, env by name, ports by
  containerPort, volumeMounts by mountPath); other lists are replaced, as in a strategic merge;
- configMapGenerator / secretGenerator: `literals:` only, with options.disableNameSuffixHash: true (the
  name-hash and reference rewriting are not implemented, so a generator without it is refused).

Where kubectl is present the test suite renders every overlay with `kubectl kustomize` as well and requires
both to produce the same objects, which keeps this file honest.

Run as a script to print an overlay: python tests/k8s/kustomize_lite.py k8s/overlays/dev
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "replicas",
    "patches",
    "configMapGenerator",
    "secretGenerator",
}

# Kinds without a namespace among those k8s/ could plausibly hold.
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}

# Strategic-merge keys for the lists the patches touch (from the Kubernetes API's patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "topologySpreadConstraints": "topologyKey",
}

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is malformed."""


def load_yaml_documents(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def render(directory: Path | str) -> list[Obj]:
    """Render the kustomization in `directory` to a list of objects (in resource order)."""
    directory = Path(directory)
    kustomization_file = directory / "kustomization.yaml"
    if not kustomization_file.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    (kustomization,) = load_yaml_documents(kustomization_file)
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{kustomization_file}: unsupported keys {sorted(unknown)}")

    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(render(target))
        elif target.is_file():
            objects.extend(load_yaml_documents(target))
        else:
            raise KustomizeError(f"{kustomization_file}: resource {entry} does not exist")

    for generator_key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for generator in kustomization.get(generator_key, []):
            objects.append(_generate(kustomization_file, generator, kind))
    _refuse_duplicates(objects, kustomization_file)

    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{kustomization_file}: only `path:` patches are supported, got {sorted(patch)}")
        for patch_doc in load_yaml_documents(directory / patch["path"]):
            _apply_patch(objects, patch_doc, directory / patch["path"])

    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] == "Namespace":
                obj["metadata"]["name"] = namespace
            elif obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace

    for image in kustomization.get("images", []):
        _set_image(objects, image, kustomization_file)

    for replica in kustomization.get("replicas", []):
        matched = [o for o in objects if o["kind"] in {"Deployment", "StatefulSet"} and _name(o) == replica["name"]]
        if not matched:
            raise KustomizeError(f"{kustomization_file}: replicas names {replica['name']}, which is not rendered")
        for obj in matched:
            obj["spec"]["replicas"] = int(replica["count"])
    return objects


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _refuse_duplicates(objects: list[Obj], where: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["kind"], _name(obj))
        if key in seen:
            raise KustomizeError(f"{where}: {key[0]}/{key[1]} is defined twice")
        seen.add(key)


def _generate(where: Path, generator: Obj, kind: str) -> Obj:
    allowed = {"name", "literals", "options", "type"}
    if set(generator) - allowed:
        raise KustomizeError(f"{where}: generator keys {sorted(set(generator) - allowed)} are not supported")
    if not generator.get("options", {}).get("disableNameSuffixHash"):
        raise KustomizeError(f"{where}: generator {generator['name']} needs options.disableNameSuffixHash: true")
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise KustomizeError(f"{where}: literal {key!r} has no '='")
        data[key] = value
    obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
    if kind == "Secret":
        obj["type"] = generator.get("type", "Opaque")
        obj["data"] = {k: base64.b64encode(v.encode()).decode("ascii") for k, v in data.items()}
    else:
        obj["data"] = data
    return obj


def _apply_patch(objects: list[Obj], patch: Obj, where: Path) -> None:
    targets = [
        o
        for o in objects
        if o["kind"] == patch.get("kind") and _name(o) == _name(patch) and o["apiVersion"] == patch.get("apiVersion")
    ]
    if len(targets) != 1:
        raise KustomizeError(f"{where}: patch for {patch.get('kind')}/{_name(patch)} matches {len(targets)} objects")
    merged = strategic_merge(targets[0], patch)
    targets[0].clear()
    targets[0].update(merged)


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """Merge `patch` into a copy of `base` the way a strategic-merge patch does for the fields k8s/ patches."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if "$patch" in patch:
            raise KustomizeError("$patch directives are not supported")
        result = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = strategic_merge(result[key], value, key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged = copy.deepcopy(base)
        for item in patch:
            index = next((i for i, existing in enumerate(merged) if existing.get(key) == item.get(key)), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = strategic_merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def split_image(image: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', ':tag'); digests kept with their '@'."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _set_image(objects: list[Obj], image: Obj, where: Path) -> None:
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise KustomizeError(f"{where}: image keys {sorted(image)} are not supported")
    for obj in objects:
        if obj["kind"] == "CronJob":
            pod_spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif obj["kind"] in POD_TEMPLATE_KINDS:
            pod_spec = obj["spec"]["template"]["spec"]
        else:
            continue
        for container in [*pod_spec.get("containers", []), *pod_spec.get("initContainers", [])]:
            name, suffix = split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                suffix = "@" + image["digest"]
            elif "newTag" in image:
                suffix = ":" + str(image["newTag"])
            container["image"] = name + suffix


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: kustomize_lite.py DIRECTORY", file=sys.stderr)
        return 2
    yaml.safe_dump_all(render(Path(argv[1])), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
