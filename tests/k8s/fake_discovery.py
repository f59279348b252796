"""Discovery documents and Table answers of the fake API server.

What `kubectl --server URL get serviceentries` asks before and while it
lists: /version, /api, /api/v1, /apis, /apis/networking.istio.io and
/apis/networking.istio.io/V (the legacy discovery documents; an aggregated
discovery Accept header gets them too, which kubectl accepts as a fallback),
then the list itself with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
Shapes as the API server's (k8s.io/apimachinery/pkg/apis/meta/v1 types;
the columns are those of Istio's ServiceEntry CRD additionalPrinterColumns).
"""
import calendar
import time

GROUP = "networking.istio.io"
VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2024-08-13T00:00:00Z", "goVersion": "go1.22.5",
    "compiler": "gc", "platform": "linux/amd64",
}
VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
PRINTER_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
    {"name": "Hosts", "type": "string", "format": "", "description": "The hosts associated with the ServiceEntry", "priority": 0},
    {"name": "Location", "type": "string", "format": "", "description": "Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)", "priority": 0},
    {"name": "Resolution", "type": "string", "format": "", "description": "Service discovery mode for the hosts", "priority": 0},
    {"name": "Age", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
]

# paths served without credentials (system:public-info-viewer)
PUBLIC = ("/version", "/healthz", "/livez", "/readyz")


def discovery(path, versions):
    """The document for a discovery path, or None if path is not one."""
    path = path.rstrip("/") or "/"
    served = [v for v in ("v1", "v1beta1", "v1alpha3") if v in versions]
    if path == "/version":
        return VERSION_INFO
    if path in ("/healthz", "/livez", "/readyz"):
        return "ok"
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]}]}
    group = {"name": GROUP,
             "versions": [{"groupVersion": f"{GROUP}/{v}", "version": v} for v in served],
             "preferredVersion": {"groupVersion": f"{GROUP}/{served[0]}", "version": served[0]} if served else None}
    if not served:
        group.pop("preferredVersion")
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group] if served else []}
    if path == f"/apis/{GROUP}":
        return dict(group, kind="APIGroup", apiVersion="v1") if served else None
    if path.startswith(f"/apis/{GROUP}/"):
        v = path.split("/")[3]
        if v not in served or path.count("/") != 3:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{v}", "resources": [
            {"name": "serviceentries", "singularName": "serviceentry", "namespaced": True,
             "kind": "ServiceEntry", "verbs": VERBS, "shortNames": ["se"], "categories": ["istio-io", "networking-istio-io"],
             "storageVersionHash": "bVp5z+Yw0aA="},
            {"name": "serviceentries/status", "singularName": "", "namespaced": True,
             "kind": "ServiceEntry", "verbs": ["get", "patch", "update"]}]}
    return None


def wants_table(accept):
    """True if the Accept header asks for a meta.k8s.io Table (what kubectl get sends)."""
    for part in (accept or "").split(","):
        params = {}
        for p in part.split(";")[1:]:
            k, _, v = p.strip().partition("=")
            params[k] = v
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return "meta.k8s.io/" + params["v"]
    return None


def _age(ts):
    """The Age cell: a short human duration, as the API server prints it."""
    try:
        t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return "<unknown>"
    s = max(int(time.time() - t), 0)
    if s < 120:
        return f"{s}s"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def table(api_version, objects, list_meta, include="Metadata"):
    """A Table of ServiceEntries (the CRD's printer columns)."""
    rows = []
    for o in objects:
        spec = o.get("spec") if isinstance(o.get("spec"), dict) else {}
        m = o["metadata"]
        cells = [m.get("name"), spec.get("hosts"), spec.get("location"), spec.get("resolution"),
                 _age(m.get("creationTimestamp"))]
        row = {"cells": cells}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": {k: v for k, v in m.items() if k != "managedFields"}}
        rows.append(row)
    t = {"kind": "Table", "apiVersion": api_version, "metadata": dict(list_meta),
         "columnDefinitions": PRINTER_COLUMNS, "rows": rows}
    return t
