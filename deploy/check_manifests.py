#!/usr/bin/env python3
"""Sanity checks of deploy/kubernetes/*.yaml and deploy/docker/docker-compose.yml without a cluster
or Docker engine: YAML parses, kinds and apiVersions are known, required fields exist, probes
point at /readyz and /healthz on a declared container port, the grace period exceeds the drain,
the Service/PDB/HPA select or target the Deployment, and compose has Redis, three nodes and HAProxy.
Prints one line per check and exits 1 on the first failed file."""
import glob
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN = {
    "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "Deployment": "apps/v1",
    "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)
    return condition


def load_kubernetes():
    documents = {}
    for path in sorted(glob.glob(os.path.join(HERE, "kubernetes", "*.yaml"))):
        name = os.path.relpath(path, HERE)
        with open(path) as handle:
            for document in yaml.safe_load_all(handle):
                if document is None:
                    continue
                kind = document.get("kind")
                check(kind in KNOWN, f"{name}: kind {kind} is known")
                check(document.get("apiVersion") == KNOWN.get(kind), f"{name}: apiVersion {document.get('apiVersion')} for {kind}")
                if kind != "Kustomization":
                    check(bool(document.get("metadata", {}).get("name")), f"{name}: metadata.name set")
                documents.setdefault(kind, []).append((name, document))
    return documents


def check_kubernetes(documents):
    for kind in ["ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Secret"]:
        check(kind in documents, f"kubernetes: a {kind} exists")
    if failures:
        return
    name, deployment = documents["Deployment"][0]
    labels = deployment["spec"]["selector"]["matchLabels"]
    template = deployment["spec"]["template"]
    check(all(template["metadata"]["labels"].get(k) == v for k, v in labels.items()), f"{name}: selector matches the pod labels")
    pod = template["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    check(bool(container.get("image")), f"{name}: container image set")
    for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
        http = container.get(probe, {}).get("httpGet", {})
        check(http.get("path") == path, f"{name}: {probe} on {path}")
        check(http.get("port") in ports or http.get("port") in ports.values(), f"{name}: {probe} port {http.get('port')} is a container port")
    config = {}
    for _, configmap in documents["ConfigMap"]:
        config.update(configmap.get("data", {}))
    env_from = [e.get("configMapRef", e.get("secretRef", {})).get("name") for e in container.get("envFrom", [])]
    check(any(n == documents["ConfigMap"][0][1]["metadata"]["name"] for n in env_from), f"{name}: envFrom the ConfigMap")
    check(any(n == documents["Secret"][0][1]["metadata"]["name"] for n in env_from), f"{name}: envFrom the Secret")
    secret_keys = set(documents["Secret"][0][1].get("stringData", {}))
    check({"HERALD_JWT_SECRET", "HERALD_API_KEYS"} <= secret_keys, "secret: holds HERALD_JWT_SECRET and HERALD_API_KEYS")
    listen_port = int(config.get("HERALD_LISTEN", "0.0.0.0:8080").rsplit(":", 1)[1])
    check(listen_port in ports.values(), f"{name}: HERALD_LISTEN port {listen_port} is the container port")
    drain = int(config.get("HERALD_DRAIN_SECONDS", "10"))
    pre_stop = 0
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(command) == 2 and command[0] == "sleep":
        pre_stop = int(command[1])
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace > drain + pre_stop, f"{name}: terminationGracePeriodSeconds {grace} > preStop {pre_stop} + HERALD_DRAIN_SECONDS {drain}")
    resources = container.get("resources", {})
    check(bool(resources.get("requests")) and bool(resources.get("limits")), f"{name}: resource requests and limits")
    for kind in ["Service", "PodDisruptionBudget"]:
        other_name, other = documents[kind][0]
        selector = other["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        check(selector == labels, f"{other_name}: selects the Deployment's pods")
    service_name, service = documents["Service"][0]
    for port in service["spec"]["ports"]:
        target = port.get("targetPort")
        check(target in ports or target in ports.values(), f"{service_name}: targetPort {target} is a container port")
    hpa_name, hpa = documents["HorizontalPodAutoscaler"][0]
    target = hpa["spec"]["scaleTargetRef"]
    check(target["kind"] == "Deployment" and target["name"] == deployment["metadata"]["name"], f"{hpa_name}: targets the Deployment")
    check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]), f"{hpa_name}: scales on CPU")
    check(hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], f"{hpa_name}: minReplicas <= maxReplicas")
    _, kustomization = documents["Kustomization"][0]
    for resource in kustomization["resources"]:
        check(os.path.exists(os.path.join(HERE, "kubernetes", resource)), f"kustomization: {resource} exists")


def check_compose():
    path = os.path.join(HERE, "docker", "docker-compose.yml")
    with open(path) as handle:
        compose = yaml.safe_load(handle)
    services = compose.get("services", {})
    check({"redis", "edge1", "edge2", "edge3", "haproxy"} <= set(services), "docker-compose.yml: redis, edge1-3, haproxy")
    for name in ["edge1", "edge2", "edge3"]:
        service = services.get(name, {})
        environment = service.get("environment", {})
        check(environment.get("HERALD_NODE_ID") == name, f"docker-compose.yml: {name} has its own HERALD_NODE_ID")
        check(environment.get("HERALD_REDIS_URL", "").startswith("redis://redis:"), f"docker-compose.yml: {name} uses the redis service")
        check(service.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile", f"docker-compose.yml: {name} builds deploy/docker/Dockerfile")
        grace = int(str(service.get("stop_grace_period", "10s")).rstrip("s"))
        check(grace > int(environment.get("HERALD_DRAIN_SECONDS", "10")), f"docker-compose.yml: {name} stop_grace_period > drain")
    volumes = services.get("haproxy", {}).get("volumes", [])
    check(any(v.startswith("../haproxy/haproxy.cfg:") for v in volumes), "docker-compose.yml: haproxy mounts deploy/haproxy/haproxy.cfg")
    check(os.path.exists(os.path.join(HERE, "haproxy", "haproxy.cfg")), "deploy/haproxy/haproxy.cfg exists")
    dockerfile = open(os.path.join(HERE, "docker", "Dockerfile")).read()
    for needle in ["AS build", "libhiredis-dev", "HEALTHCHECK", "/healthz", "USER 10001", "-slim"]:
        check(needle in dockerfile, f"Dockerfile: contains {needle!r}")


check_kubernetes(load_kubernetes())
check_compose()
if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
