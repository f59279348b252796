#!/bin/bash
# kubernetes.sh -- packaging/kubernetes (issue 10 item 5): every manifest
# validates against the Kubernetes API's OpenAPI schema as Debian ships it
# (tests/packaging/k8s_validate.py on python3-kubernetes's generated models:
# known fields only, their types, required fields; offline); the validator
# rejects broken copies (so it is not a rubber stamp); the plain
# globaldns.yaml is the Kustomize base rendered (render.sh, and `kubectl
# kustomize` when kubectl is there); the Deployment has what the issue asks
# (replicas, anti-affinity, dnsPolicy, no sidecar, non-root, no privilege
# escalation, only NET_BIND_SERVICE, read-only root, probes, resources) and
# agrees with the ConfigMap's Corefile (ports, paths, names); and that
# Corefile is conf/examples/kubernetes.Corefile and passes `globaldns
# -validate` as in a pod.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib_manifest.sh"
# Debian's python: python3-kubernetes is not in a python3 from elsewhere
PY=/usr/bin/python3
$PY -c 'import kubernetes.client, yaml' 2>/dev/null || skip_all "python3-kubernetes (Debian) not installed"
plan 39

K=$TOP_SRCDIR/packaging/kubernetes
ALL=$K/globaldns.yaml

validate() { (cd "$K" && $PY "$TOP_SRCDIR/tests/packaging/k8s_validate.py" "$@"); }

out=$(validate globaldns.yaml namespaced-rbac.yaml clients/kube-dns-stubdomains.yaml 2>&1)
ok $? "every object validates against the OpenAPI schema (python3-kubernetes $($PY -c 'import kubernetes; print(kubernetes.__version__)'))"
printf '%s\n' "$out" | sed 's/^/# /'
is "$(printf '%s\n' "$out" | grep -c '^ok ')" 10 "10 objects: 7 in globaldns.yaml, 2 in namespaced-rbac.yaml, 1 client ConfigMap"
is "$(printf '%s\n' "$out" | awk '{ print $3 }' | sort | tr '\n' ' ')" \
	"ClusterRole ClusterRoleBinding ConfigMap ConfigMap Deployment PodDisruptionBudget Role RoleBinding Service ServiceAccount " \
	"the kinds the issue lists"
out=$(validate "$TESTDATA/migration/istiocoredns-chart.yaml" 2>&1)
ok $? "the old chart's objects (tests/data/migration) validate too"

# the validator says no to broken objects
sed 's/containerPort: 9153/containerPort: "9153"/' "$ALL" >"$T_TMP/bad-port.yaml"
out=$(validate "$T_TMP/bad-port.yaml" 2>&1)
like "$out" "not ok .*Deployment istio-system/globaldns: .*containerPort: '9153' is not a int" "a string port is rejected"
sed 's/readOnlyRootFilesystem/readOnlyRootFileSystem/' "$ALL" >"$T_TMP/bad-field.yaml"
out=$(validate "$T_TMP/bad-field.yaml" 2>&1)
like "$out" "not ok .*Deployment.*unknown field 'readOnlyRootFileSystem'" "a misspelt field is rejected"
python3 - "$ALL" "$T_TMP/bad-noname.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read().replace("      containers:\n      - name: globaldns\n", "      containers:\n      - \n", 1)
open(sys.argv[2], "w").write(s)
PY
out=$(validate "$T_TMP/bad-noname.yaml" 2>&1)
like "$out" "not ok .*Deployment.*containers\[0\]\.name: Invalid value for .name., must not be .None." "a container without a name is rejected"

# ---- plain YAML = the Kustomize base
"$K/render.sh" >"$T_TMP/rendered.yaml"
ok $? "render.sh runs"
cmp -s "$T_TMP/rendered.yaml" "$ALL"
ok $? "globaldns.yaml is base/ rendered (run packaging/kubernetes/render.sh after editing base/)"
is "$(ls "$K/base" | grep -v kustomization.yaml | sort | xargs)" \
	"$(yq '" ".join(sorted(D[0]["resources"]))' "$K/base/kustomization.yaml")" \
	"kustomization.yaml lists every file of base/"
if command -v kubectl >/dev/null && kubectl kustomize "$K/base" >"$T_TMP/kustomized.yaml" 2>"$T_TMP/kustomize.log"; then
	is "$(yq 'sorted(json.dumps(d, sort_keys=True) for d in F[0]) == sorted(json.dumps(d, sort_keys=True) for d in F[1])' "$T_TMP/kustomized.yaml" "$ALL")" True \
		"kubectl kustomize base/ builds the same objects ($(kubectl version --client 2>/dev/null | grep -iE "kustomize|client version" | tail -n 1 | cut -c1-60))"
else
	ok 0 "# SKIP kubectl kustomize not available here"
fi

# ---- what the issue asks of the objects
d() { yq "$1" "$ALL"; }
POD='o("Deployment","globaldns")["spec"]["template"]'
C="$POD[\"spec\"][\"containers\"][0]"
is "$(d 'o("Deployment","globaldns")["metadata"]["namespace"]')" istio-system "Deployment in istio-system"
is "$(d 'o("Deployment","globaldns")["spec"]["replicas"]')" 2 "2 replicas"
is "$(d "$POD[\"spec\"][\"affinity\"][\"podAntiAffinity\"][\"preferredDuringSchedulingIgnoredDuringExecution\"][0][\"podAffinityTerm\"][\"topologyKey\"]")" \
	kubernetes.io/hostname "pod anti-affinity: replicas on different nodes"
is "$(d "sel($POD[\"spec\"][\"affinity\"][\"podAntiAffinity\"][\"preferredDuringSchedulingIgnoredDuringExecution\"][0][\"podAffinityTerm\"][\"labelSelector\"], $POD[\"metadata\"][\"labels\"])")" \
	True "the anti-affinity selects its own pods"
is "$(d "$POD[\"spec\"][\"dnsPolicy\"]")" Default "dnsPolicy: Default (the node's resolvers for forward . /etc/resolv.conf)"
is "$(d "$POD[\"metadata\"][\"annotations\"][\"sidecar.istio.io/inject\"]")" false "sidecar.istio.io/inject: \"false\""
is "$(d "[$POD[\"spec\"][\"securityContext\"][\"runAsNonRoot\"], $C[\"securityContext\"][\"runAsNonRoot\"], $POD[\"spec\"][\"securityContext\"][\"runAsUser\"]]")" \
	"[true, true, 1337]" "runAsNonRoot (pod and container), uid 1337 as in the image"
is "$(d "$C[\"securityContext\"][\"allowPrivilegeEscalation\"]")" False "allowPrivilegeEscalation: false"
is "$(d "$C[\"securityContext\"][\"capabilities\"]")" '{"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}' "capabilities: drop ALL, add NET_BIND_SERVICE"
is "$(d "$C[\"securityContext\"][\"readOnlyRootFilesystem\"]")" True "readOnlyRootFilesystem"
is "$(d "[$C[\"livenessProbe\"][\"httpGet\"][\"path\"], $C[\"livenessProbe\"][\"httpGet\"][\"port\"]]")" '["/health", 8080]' "liveness: GET /health on 8080"
is "$(d "[$C[\"readinessProbe\"][\"httpGet\"][\"path\"], $C[\"readinessProbe\"][\"httpGet\"][\"port\"]]")" '["/ready", 8181]' "readiness: GET /ready on 8181"
is "$(d "sorted($C[\"resources\"][\"requests\"]) + sorted($C[\"resources\"][\"limits\"])")" '["cpu", "memory", "memory"]' "resources: cpu and memory requests, memory limit"
is "$(d "sorted((p[\"containerPort\"], p[\"protocol\"]) for p in $C[\"ports\"])")" '[[53, "TCP"], [53, "UDP"], [9153, "TCP"]]' "container ports 53/UDP, 53/TCP, 9153/TCP"
is "$(d "$POD[\"spec\"][\"serviceAccountName\"] == o(\"ServiceAccount\",\"globaldns\")[\"metadata\"][\"name\"] == o(\"ClusterRoleBinding\",\"globaldns\")[\"subjects\"][0][\"name\"]")" \
	True "the pod runs as the service account the ClusterRoleBinding binds"
is "$(d 'o("ClusterRole","globaldns")["rules"]')" '[{"apiGroups": ["networking.istio.io"], "resources": ["serviceentries"], "verbs": ["get", "list", "watch"]}]' \
	"ClusterRole: get, list, watch on serviceentries.networking.istio.io, nothing else"
is "$(d 'o("ClusterRoleBinding","globaldns")["roleRef"]["name"]')" globaldns "the binding refers to that ClusterRole"
is "$(d "sel(o(\"Service\",\"istiocoredns\")[\"spec\"][\"selector\"], $POD[\"metadata\"][\"labels\"])")" True "the istiocoredns Service selects the pods"
is "$(d 'sorted((p["name"], p["port"], p["protocol"]) for p in o("Service","istiocoredns")["spec"]["ports"])')" \
	'[["dns", 53, "UDP"], ["dns-tcp", 53, "TCP"]]' "the Service: dns 53/UDP, dns-tcp 53/TCP"
is "$(d "[sel(o(\"PodDisruptionBudget\",\"globaldns\")[\"spec\"][\"selector\"], $POD[\"metadata\"][\"labels\"]), o(\"PodDisruptionBudget\",\"globaldns\")[\"spec\"][\"minAvailable\"] < o(\"Deployment\",\"globaldns\")[\"spec\"][\"replicas\"]]")" \
	"[true, true]" "the PodDisruptionBudget covers the pods and lets one be evicted"
is "$(d "[$POD[\"spec\"][\"volumes\"][0][\"configMap\"][\"name\"], $C[\"volumeMounts\"][0][\"mountPath\"] + \"/\" + $POD[\"spec\"][\"volumes\"][0][\"configMap\"][\"items\"][0][\"path\"], $C[\"args\"]]")" \
	'["globaldns", "/etc/globaldns/Corefile", ["-conf", "/etc/globaldns/Corefile"]]' "the ConfigMap is mounted where -conf reads it"
VERSION=$(sed -n 's/^AC_INIT(\[globaldns\], \[\([^]]*\)\].*/\1/p' "$TOP_SRCDIR/configure.ac")
is "$(d "$C[\"image\"]")" "globaldns:$VERSION" "the image is the one packaging/image/build.sh tags ($VERSION)"

# ---- the Corefile in the ConfigMap
d 'o("ConfigMap","globaldns")["data"]["Corefile"]' >"$T_TMP/Corefile"
cmp -s "$T_TMP/Corefile" <(cat "$TOP_SRCDIR/conf/examples/kubernetes.Corefile"; echo)
ok $? "the ConfigMap's Corefile is conf/examples/kubernetes.Corefile (the image's default)"
grep -Eq '^[[:space:]]*health :8080' "$T_TMP/Corefile" && grep -Eq '^[[:space:]]*ready :8181' "$T_TMP/Corefile" \
	&& grep -Eq '^[[:space:]]*prometheus :9153' "$T_TMP/Corefile" && grep -Eq '^\.:53 \{' "$T_TMP/Corefile"
ok $? "it listens where the probes, the container ports and the scrape annotation look (53, 8080, 8181, 9153)"
is "$(d "$POD[\"metadata\"][\"annotations\"][\"prometheus.io/port\"]")" 9153 "prometheus.io/port names the metrics port"
mkdir -p "$T_TMP/sa"
echo token >"$T_TMP/sa/token"; echo istio-system >"$T_TMP/sa/namespace"
out=$(KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443 GLOBALDNS_SA_DIR=$T_TMP/sa \
	"$GLOBALDNS" -validate -conf "$T_TMP/Corefile" 2>&1)
ok $? "globaldns -validate accepts it as in a pod (in-cluster configuration)"
like "$out" "Corefile: OK" "and says OK"
out=$(env -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT HOME=$T_TMP KUBECONFIG= \
	"$GLOBALDNS" -validate -conf "$T_TMP/Corefile" 2>&1)
like "$out" "Corefile:[0-9]+: serviceentries: kubernetes: no Kubernetes configuration" "outside a pod -validate says what is missing (so the check above checked)"
