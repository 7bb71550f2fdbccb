"""deploy/k8s, checked offline (no cluster here): every manifest the kustomization lists
parses and passes the Kubernetes API's JSON schema (kubernetes-validate, strict: no
unknown fields), and what must agree with the image does: port, user, probes, writable
paths, memory against the bench's RSS, and the links between the objects (selectors,
Service port names, the Ingress backend, the HPA and PDB targets).

Not checked here (needs a cluster): that the API server admits them, that ingress-nginx
honours the annotations, that the pods start and the probes pass.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in requirements-dev.txt")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is in requirements-dev.txt"
)

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
# Kubernetes versions whose schemas the manifests must pass (kubernetes-validate ships them)
K8S_VERSIONS = ("1.29.0", "1.33.0")
MIB = 2**20


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def manifests() -> dict[str, dict]:
    """Every object the kustomization lists, by kind (one of each)."""
    out: dict[str, dict] = {}
    for name in kustomization()["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']} objects"
            out[doc["kind"]] = doc
    return out


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def container() -> dict:
    (c,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def quantity_bytes(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", q)
    assert m, q
    return float(m[1]) * units.get(m[2] or "", 1)


def test_kustomization_lists_every_manifest_and_the_kinds():
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert set(manifests()) == {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_pass_the_api_schema(version):
    for kind, doc in manifests().items():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{kind} fails the Kubernetes {version} schema: {e.message} at {e.path}")


def test_schema_check_can_fail():
    """The validator does reject what the API would (so the test above means something)."""
    bad = manifests()["Deployment"]
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8501"
    bad["spec"]["replicass"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_image_port_and_user_agree_with_the_dockerfile_and_config():
    c = container()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    default_image = re.fullmatch(r"\$\{IMAGE:-(.+)\}", compose["services"]["app"]["image"])[1]
    assert c["image"] == default_image
    assert {i["name"] for i in kustomization()["images"]} == {default_image}
    port = int(re.search(r"^EXPOSE (\d+)$", dockerfile(), re.M)[1])
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["port"] == port
    assert [p["containerPort"] for p in c["ports"]] == [port]
    uid, gid = map(int, re.search(r"^USER (\d+):(\d+)$", dockerfile(), re.M).groups())
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["runAsNonRoot"]) == (uid, gid, True)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    upload_mb = config["server"]["maxUploadSize"]
    body = manifests()["Ingress"]["metadata"]["annotations"]
    size = re.fullmatch(r"(\d+)m", body["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert size and int(size[1]) > upload_mb, "nginx must let an upload of maxUploadSize through"


def test_probes_match_the_image_health_check():
    health = re.search(r"^HEALTHCHECK (.*?)\\\n\s*CMD \[(.*)\]$", dockerfile(), re.M | re.S)
    options, command = health.groups()
    path = re.search(r"localhost:\d+(/\S+?)'", command)[1]
    interval = int(re.search(r"--interval=(\d+)s", options)[1])
    timeout = int(re.search(r"--timeout=(\d+)s", options)[1])
    retries = int(re.search(r"--retries=(\d+)", options)[1])
    c = container()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in ("http", c["ports"][0]["containerPort"]), probe
        assert c[probe]["timeoutSeconds"] <= timeout, probe
    live = c["livenessProbe"]
    assert (live["periodSeconds"], live["failureThreshold"]) == (interval, retries)


def test_writable_paths_are_the_compose_tmpfs():
    """Read-only root: exactly compose.yaml's tmpfs paths are writable (emptyDir), HOME
    among them."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    tmpfs = {entry.split(":", 1)[0] for entry in compose["services"]["app"]["tmpfs"]}
    mounts = {m["mountPath"] for m in container()["volumeMounts"]}
    assert mounts == tmpfs
    home = re.search(r"^\s*HOME=(\S+)", dockerfile(), re.M)[1]
    assert home in mounts
    volumes = manifests()["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert all("emptyDir" in v for v in volumes)


def test_memory_request_covers_the_measured_rss():
    """requests.memory covers the bench's largest server RSS (bench/RESULTS.md, load run
    with 10 sessions), with the limit well above it."""
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    rss_max_mb = float(re.search(r"RSS during: median / max \| \d+ / (\d+) MB", results)[1])
    res = container()["resources"]
    assert quantity_bytes(res["requests"]["memory"]) >= rss_max_mb * MIB
    assert quantity_bytes(res["limits"]["memory"]) >= 1.5 * rss_max_mb * MIB
    assert res["requests"]["cpu"] == res["limits"]["cpu"] == "1"  # the capacity unit


def test_objects_point_at_each_other():
    m = manifests()
    deploy, svc, ing = m["Deployment"], m["Service"], m["Ingress"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    assert m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for p in container()["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names
    (rule,) = ing["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    target = m["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deploy["metadata"]["name"])
    hpa_min = m["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    assert hpa_min > m["PodDisruptionBudget"]["spec"]["maxUnavailable"]
    rolling = deploy["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1  # start-first


def test_ingress_is_sticky_and_keeps_websockets_open():
    ing = manifests()["Ingress"]
    a = ing["metadata"]["annotations"]
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert a["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert a["nginx.ingress.kubernetes.io/session-cookie-name"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(a[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600, timeout
