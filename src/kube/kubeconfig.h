/*
 * kubeconfig.h -- where the Kubernetes API server is and how to prove who
 * we are: in-cluster configuration or kubeconfig files.
 *
 * In-cluster (a pod): KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT
 * give the server (an IPv6 host is bracketed), the service-account
 * directory (default /var/run/secrets/kubernetes.io/serviceaccount, or
 * $GLOBALDNS_SA_DIR, or an explicit one) holds `token` (re-read: bound
 * tokens rotate) and `ca.crt`.
 *
 * kubeconfig: YAML read with libyaml (yaml_json_parse).  A path list
 * "a:b:c" (as $KUBECONFIG) is merged as kubectl does: the first file that
 * defines a cluster, user or context name wins, current-context comes from
 * the first file that sets one, missing files are skipped (but at least
 * one must exist).  Relative paths inside a file are relative to that
 * file's directory; "-data" fields (base64 PEM) beat the path fields.
 *
 * Supported user fields: token, tokenFile, client-certificate(-data),
 * client-key(-data), username/password, exec (command, args, env,
 * apiVersion, provideClusterInfo, interactiveMode), impersonation (as,
 * as-uid, as-groups, as-user-extra: the Impersonate-* headers client-go
 * sends).  Cluster fields: server, certificate-authority(-data),
 * insecure-skip-tls-verify, tls-server-name, proxy-url (http, https,
 * socks5), disable-compression.  auth-provider is not supported (removed
 * from kubectl in 1.26): an error says so.
 */
#ifndef GLOBALDNS_KUBECONFIG_H
#define GLOBALDNS_KUBECONFIG_H

#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_exec {
	char *command;                  /* as written; relative paths with '/' made absolute */
	char **args;                    /* NULL-terminated argv without argv[0] */
	size_t nargs;
	char **env;                     /* "NAME=value", NULL-terminated */
	size_t nenv;
	char *api_version;              /* client.authentication.k8s.io/v1 or v1beta1 */
	int provide_cluster_info;       /* provideClusterInfo: spec.cluster in
	                                 * KUBERNETES_EXEC_INFO */
};

/* Everything needed to reach one API server; strings owned. */
struct kube_conn {
	char *server;                   /* "https://host:port", no trailing slash */
	char *ca_file;
	char *ca_pem;                   /* decoded certificate-authority-data */
	size_t ca_pem_len;
	int insecure;
	char *tls_server_name;
	char *token;                    /* a fixed token */
	char *token_file;               /* a token re-read from this file */
	char *cert_file, *key_file;
	char *cert_pem, *key_pem;       /* decoded -data fields */
	size_t cert_pem_len, key_pem_len;
	char *username, *password;
	struct kube_exec *exec;         /* NULL unless the user has exec */
	char *exec_config;              /* the cluster's extension named
	                                 * client.authentication.k8s.io/exec,
	                                 * as JSON text: spec.cluster.config */
	char *namespace;                /* the context's namespace, or NULL */
	char *origin;                   /* "in-cluster" or "kubeconfig FILE, context NAME" */
	/* the cluster's proxy-url (http, https or socks5), or NULL */
	char *proxy_url;
	int disable_compression;        /* the cluster's disable-compression */
	/* impersonation (the user's as, as-uid, as-groups, as-user-extra)
	 * as header lines, NULL-terminated; NULL if none */
	char **headers;
	size_t nheaders;
	/* where an inline token came from (re-read when the file changes) */
	char *kubeconfig_paths, *kubeconfig_context;
	char *proxy;                    /* resolved (kube_proxy.h): "" none, or a URL */
};

void kube_conn_clear(struct kube_conn *k);

/*
 * In-cluster configuration from the environment and sa_dir (NULL: the
 * default, or $GLOBALDNS_SA_DIR).  Returns 0; 1 if KUBERNETES_SERVICE_HOST
 * or _PORT is unset (not in a pod; *k untouched); -1 with err on error
 * (the token itself is not read here).
 */
int kube_incluster(const char *sa_dir, struct kube_conn *k, char *err,
	size_t errlen);

/*
 * Load a kubeconfig path list ("a:b", NULL: $KUBECONFIG, else
 * ~/.kube/config) and pick context (NULL: current-context).  Returns 0 or
 * -1 with "FILE: what" in err.
 */
int kubeconfig_load(const char *paths, const char *context,
	struct kube_conn *k, char *err, size_t errlen);

/*
 * Decode base64 (standard alphabet, padding optional, white space
 * ignored).  Returns a new NUL-terminated buffer (caller frees) with its
 * length in *outlen, or NULL if the text is not base64 or memory ran out.
 */
char *kube_base64_decode(const char *text, size_t *outlen);

/*
 * Read a token file: the contents with surrounding white space trimmed.
 * Returns a new string, or NULL with err (missing, unreadable, empty,
 * larger than 64 KiB).
 */
char *kube_read_token(const char *path, char *err, size_t errlen);

/* A string member of a JSON object: 0 (absent or null: *out NULL), 1
 * found, -1 of another type. */
struct cJSON;
int kube_json_str(const struct cJSON *o, const char *key, const char **out);

/*
 * Parse an ExecCredential (the output of an exec plugin; kube_execcred.c): status.token
 * into *token (new string) and status.expirationTimestamp (RFC 3339) into
 * *expires (0 if absent).  status.clientCertificateData/clientKeyData go
 * to *cert / *key (new strings, may stay NULL).  Returns 0, or -1 with err.
 */
int kube_exec_credential_parse(const char *json, size_t len, char **token,
	long long *expires, char **cert, char **key, char *err, size_t errlen);

#endif
