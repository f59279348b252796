/*
 * kubeconfig.c -- in-cluster configuration and kubeconfig files (merged
 * as kubectl merges $KUBECONFIG), turned into one struct kube_conn.
 *
 * Each file is parsed on its own (YAML through yaml_json_parse);
 * the merge is a lookup in file order, so "the first file that defines a
 * name wins" falls out, and each cluster or user remembers the file it
 * came from for its relative paths.
 */
#include "kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ldns/ldns.h>

#include "globaldns/manifest.h"
#include "globaldns/yaml_json.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"

#define KUBECONFIG_MAX_SIZE (16u * 1024 * 1024)
#define TOKEN_MAX_SIZE (64u * 1024)

static void exec_free(struct kube_exec *x)
{
	if (!x)
		return;
	free(x->command);
	for (size_t i = 0; i < x->nargs; i++)
		free(x->args[i]);
	free(x->args);
	for (size_t i = 0; i < x->nenv; i++)
		free(x->env[i]);
	free(x->env);
	free(x->api_version);
	free(x);
}

void kube_conn_clear(struct kube_conn *k)
{
	if (!k)
		return;
	free(k->server);
	free(k->ca_file);
	free(k->ca_pem);
	free(k->tls_server_name);
	free(k->token);
	free(k->token_file);
	free(k->cert_file);
	free(k->key_file);
	free(k->cert_pem);
	free(k->key_pem);
	free(k->username);
	free(k->password);
	exec_free(k->exec);
	free(k->exec_config);
	free(k->namespace);
	free(k->origin);
	free(k->proxy_url);
	for (size_t i = 0; i < k->nheaders; i++)
		free(k->headers[i]);
	free(k->headers);
	free(k->kubeconfig_paths);
	free(k->kubeconfig_context);
	free(k->proxy);
	memset(k, 0, sizeof(*k));
}

static int read_all(const char *path, size_t max, char **out, size_t *outlen,
	char *err, size_t errlen)
{
	if (read_whole_file(path, max, out, outlen) == 0)
		return 0;
	if (errno == EFBIG)
		errf(err, errlen, "%s: larger than %zu bytes", path, max);
	else if (errno == ENOMEM)
		errf(err, errlen, "%s: out of memory", path);
	else
		errf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

char *kube_read_token(const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len, s = 0;

	if (read_all(path, TOKEN_MAX_SIZE, &buf, &len, err, errlen) < 0)
		return NULL;
	while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\n' ||
	       buf[len - 1] == '\r' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	while (s < len && (buf[s] == ' ' || buf[s] == '\n' || buf[s] == '\r' || buf[s] == '\t'))
		s++;
	if (s == len || memchr(buf + s, '\0', len - s) || strpbrk(buf + s, "\r\n")) {
		errf(err, errlen, "%s: %s", path, s == len ? "empty token"
			: "token holds line breaks or NUL bytes");
		free(buf);
		return NULL;
	}
	memmove(buf, buf + s, len - s + 1);
	return buf;
}

int kube_incluster(const char *sa_dir, struct kube_conn *k, char *err,
	size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube_conn c;
	char buf[4096];
	int v6;

	if (!host || !*host || !port || !*port)
		return 1;
	if (!sa_dir || !*sa_dir)
		sa_dir = getenv("GLOBALDNS_SA_DIR");
	if (!sa_dir || !*sa_dir)
		sa_dir = KUBE_SA_DIR;
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5) {
		errf(err, errlen, "KUBERNETES_SERVICE_PORT \"%.32s\" is not a port", port);
		return -1;
	}
	if (strpbrk(host, "/[]@ ")) {
		errf(err, errlen, "KUBERNETES_SERVICE_HOST \"%.64s\" is not a host", host);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	v6 = strchr(host, ':') != NULL;
	snprintf(buf, sizeof(buf), "https://%s%s%s:%s", v6 ? "[" : "", host,
		v6 ? "]" : "", port);
	if (!(c.server = strdup(buf)))
		goto nomem;
	snprintf(buf, sizeof(buf), "%s/ca.crt", sa_dir);
	if (!(c.ca_file = strdup(buf)))
		goto nomem;
	snprintf(buf, sizeof(buf), "%s/token", sa_dir);
	if (!(c.token_file = strdup(buf)))
		goto nomem;
	snprintf(buf, sizeof(buf), "in-cluster, service account %s", sa_dir);
	if (!(c.origin = strdup(buf)))
		goto nomem;
	*k = c;
	return 0;
nomem:
	kube_conn_clear(&c);
	errf(err, errlen, "out of memory");
	return -1;
}

/* ---- kubeconfig files ---- */

struct kfile {
	char *path;
	char *dir;
	cJSON *doc;                     /* the first document (an object), or NULL */
};

struct kset {
	struct kfile *files;
	size_t n;
};

static void kset_free(struct kset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->files[i].path);
		free(s->files[i].dir);
		cJSON_Delete(s->files[i].doc);
	}
	free(s->files);
}

static int load_one(struct kset *s, const char *path, char *err, size_t errlen)
{
	char *text, *slash;
	size_t len;
	cJSON *docs;
	struct kfile *f, *nf;
	char perr[256];
	struct stat st;

	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;               /* missing files are skipped, as kubectl */
	if (read_all(path, KUBECONFIG_MAX_SIZE, &text, &len, err, errlen) < 0)
		return -1;
	docs = yaml_json_parse(text, len, perr, sizeof(perr));
	free(text);
	if (!docs) {
		errf(err, errlen, "%s: %s", path, perr);
		return -1;
	}
	nf = realloc(s->files, (s->n + 1) * sizeof(*nf));
	if (!nf) {
		cJSON_Delete(docs);
		errf(err, errlen, "out of memory");
		return -1;
	}
	s->files = nf;
	f = &s->files[s->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	f->dir = strdup(path);
	if (!f->path || !f->dir) {
		free(f->path);
		free(f->dir);
		cJSON_Delete(docs);
		errf(err, errlen, "out of memory");
		return -1;
	}
	slash = strrchr(f->dir, '/');
	if (slash == f->dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(f->dir, ".");
	if (cJSON_GetArraySize(docs) > 0) {
		cJSON *d = cJSON_DetachItemFromArray(docs, 0);
		if (!cJSON_IsObject(d) && !cJSON_IsNull(d)) {
			cJSON_Delete(d);
			cJSON_Delete(docs);
			errf(err, errlen, "%s: not a kubeconfig (the document is not a mapping)", path);
			free(f->path);
			free(f->dir);
			return -1;
		}
		f->doc = cJSON_IsObject(d) ? d : (cJSON_Delete(d), NULL);
	}
	cJSON_Delete(docs);
	s->n++;
	return 0;
}

/*
 * Find the named entry of a kubeconfig list ("clusters", "users",
 * "contexts") in file order; its inner object (key "cluster", ...) and the
 * file it came from.  0 found, 1 not found, -1 malformed (err set).
 */
static int find_named(const struct kset *s, const char *list, const char *inner,
	const char *name, const cJSON **out, const struct kfile **file,
	char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n; i++) {
		const cJSON *arr, *it;
		if (!s->files[i].doc)
			continue;
		arr = cJSON_GetObjectItemCaseSensitive(s->files[i].doc, list);
		if (!arr || cJSON_IsNull(arr))
			continue;
		if (!cJSON_IsArray(arr)) {
			errf(err, errlen, "%s: \"%s\" is not a list", s->files[i].path, list);
			return -1;
		}
		cJSON_ArrayForEach(it, arr) {
			const char *n;
			const cJSON *o;
			if (!cJSON_IsObject(it) || kube_json_str(it, "name", &n) < 0) {
				errf(err, errlen, "%s: %s: an element is not a mapping with a name",
					s->files[i].path, list);
				return -1;
			}
			if (!n || strcmp(n, name) != 0)
				continue;
			o = cJSON_GetObjectItemCaseSensitive(it, inner);
			if (o && !cJSON_IsObject(o) && !cJSON_IsNull(o)) {
				errf(err, errlen, "%s: %s \"%s\": \"%s\" is not a mapping",
					s->files[i].path, list, name, inner);
				return -1;
			}
			*out = cJSON_IsObject(o) ? o : NULL;
			*file = &s->files[i];
			return 0;
		}
	}
	return 1;
}

static char *resolve_path(const struct kfile *f, const char *p)
{
	size_t n;
	char *r;

	if (p[0] == '/')
		return strdup(p);
	n = strlen(f->dir) + strlen(p) + 2;
	if (!(r = malloc(n)))
		return NULL;
	snprintf(r, n, "%s/%s", f->dir, p);
	return r;
}

/* The string at key: 1 with *v, 0 when absent or empty, -1 (with err)
 * when it is not a string. */
static int text_of(const cJSON *o, const char *key, const struct kfile *f,
	const char **v, char *err, size_t errlen)
{
	if (kube_json_str(o, key, v) < 0) {
		errf(err, errlen, "%s: \"%s\" is not a string", f->path, key);
		return -1;
	}
	return *v && **v ? 1 : 0;
}

/* A path field (relative to the kubeconfig's directory); *out stays NULL
 * when absent.  0, or -1 with err. */
static int path_field(const cJSON *o, const char *key, const struct kfile *f,
	char **out, char *err, size_t errlen)
{
	const char *v;
	int rc = text_of(o, key, f, &v, err, errlen);

	if (rc <= 0)
		return rc;
	if (!(*out = resolve_path(f, v))) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* A base64 field (certificate-authority-data ...), decoded. */
static int data_field(const cJSON *o, const char *key, const struct kfile *f,
	char **out, size_t *outlen, char *err, size_t errlen)
{
	const char *v;
	int rc = text_of(o, key, f, &v, err, errlen);

	if (rc <= 0)
		return rc;
	if (!(*out = kube_base64_decode(v, outlen)) || *outlen == 0) {
		free(*out);
		*out = NULL;
		errf(err, errlen, "%s: \"%s\" is not valid base64", f->path, key);
		return -1;
	}
	return 0;
}

static int string_field(const cJSON *o, const char *key, const struct kfile *f,
	char **out, char *err, size_t errlen)
{
	const char *v;
	int rc = text_of(o, key, f, &v, err, errlen);

	if (rc <= 0)
		return rc;
	if (!(*out = strdup(v))) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* An optional list property of user.exec: *arr is the array (NULL when it
 * is absent or null) and *vec a zeroed vector with room for its elements
 * and a terminating NULL (caller frees).  0, or -1 with err. */
static int exec_list(const cJSON *x, const char *key, const cJSON **arr,
	char ***vec, const struct kfile *f, char *err, size_t errlen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, key);

	if (a && !cJSON_IsNull(a) && !cJSON_IsArray(a)) {
		errf(err, errlen, "%s: user exec: \"%s\" is not a list", f->path, key);
		return -1;
	}
	*arr = cJSON_IsArray(a) ? a : NULL;
	*vec = calloc((size_t)cJSON_GetArraySize(*arr) + 1, sizeof(char *));
	if (!*vec) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int parse_exec(const cJSON *x, const struct kfile *f, struct kube_conn *k,
	char *err, size_t errlen)
{
	struct kube_exec *e = calloc(1, sizeof(*e));
	const cJSON *args, *env, *it, *pci;
	const char *cmd, *api, *mode;

	if (!e)
		goto nomem;
	k->exec = e;
	if (!cJSON_IsObject(x) || kube_json_str(x, "command", &cmd) < 0 || !cmd || !*cmd) {
		errf(err, errlen, "%s: user exec: \"command\" missing or not a string", f->path);
		return -1;
	}
	/* kubectl: a relative command with a slash is relative to the file */
	if (cmd[0] != '/' && strchr(cmd, '/'))
		e->command = resolve_path(f, cmd);
	else
		e->command = strdup(cmd);
	if (!e->command)
		goto nomem;
	if (kube_json_str(x, "apiVersion", &api) < 0) {
		errf(err, errlen, "%s: user exec: \"apiVersion\" is not a string", f->path);
		return -1;
	}
	if (!(e->api_version = strdup(api ? api : "client.authentication.k8s.io/v1")))
		goto nomem;
	/* no terminal here: a plugin that must ask the user cannot run */
	if (kube_json_str(x, "interactiveMode", &mode) < 0 || (mode && strcmp(mode, "Never") != 0
	    && strcmp(mode, "IfAvailable") != 0 && strcmp(mode, "Always") != 0)) {
		errf(err, errlen, "%s: user exec: \"interactiveMode\" must be Never, IfAvailable or Always",
			f->path);
		return -1;
	}
	if (mode && strcmp(mode, "Always") == 0) {
		errf(err, errlen, "%s: user exec: interactiveMode Always: the plugin needs a terminal "
			"and globaldns has none; use a plugin that runs with interactiveMode Never", f->path);
		return -1;
	}
	pci = cJSON_GetObjectItemCaseSensitive(x, "provideClusterInfo");
	if (pci && !cJSON_IsNull(pci) && !cJSON_IsBool(pci)) {
		errf(err, errlen, "%s: user exec: \"provideClusterInfo\" is not a boolean", f->path);
		return -1;
	}
	e->provide_cluster_info = cJSON_IsTrue(pci);
	if (exec_list(x, "args", &args, &e->args, f, err, errlen) < 0)
		return -1;
	cJSON_ArrayForEach(it, args) {
		if (!cJSON_IsString(it)) {
			errf(err, errlen, "%s: user exec: an element of \"args\" is not a string", f->path);
			return -1;
		}
		if (!(e->args[e->nargs] = strdup(it->valuestring)))
			goto nomem;
		e->nargs++;
	}
	if (exec_list(x, "env", &env, &e->env, f, err, errlen) < 0)
		return -1;
	cJSON_ArrayForEach(it, env) {
		const char *n, *v;
		size_t l;
		if (!cJSON_IsObject(it) || kube_json_str(it, "name", &n) <= 0 ||
		    kube_json_str(it, "value", &v) < 0 || !*n || strchr(n, '=')) {
			errf(err, errlen, "%s: user exec: \"env\" elements need a name and a string value", f->path);
			return -1;
		}
		l = strlen(n) + (v ? strlen(v) : 0) + 2;
		if (!(e->env[e->nenv] = malloc(l)))
			goto nomem;
		snprintf(e->env[e->nenv], l, "%s=%s", n, v ? v : "");
		e->nenv++;
	}
	return 0;
nomem:
	errf(err, errlen, "out of memory");
	return -1;
}

/* Does the URL name a host?  ("https://" or "https://:6443" do not; kubectl
 * refuses them too.)  libcurl's URL parser, the one that will connect. */
static int url_has_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int ok = 0;

	if (!u)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		ok = host && host[0] != '\0';
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static int fill_cluster(const cJSON *c, const struct kfile *f, struct kube_conn *k,
	char *err, size_t errlen)
{
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(c, "insecure-skip-tls-verify");
	const cJSON *dc = cJSON_GetObjectItemCaseSensitive(c, "disable-compression");
	const cJSON *ext;
	size_t l;

	if (string_field(c, "server", f, &k->server, err, errlen) < 0 ||
	    path_field(c, "certificate-authority", f, &k->ca_file, err, errlen) < 0 ||
	    data_field(c, "certificate-authority-data", f, &k->ca_pem, &k->ca_pem_len, err, errlen) < 0 ||
	    string_field(c, "tls-server-name", f, &k->tls_server_name, err, errlen) < 0 ||
	    string_field(c, "proxy-url", f, &k->proxy_url, err, errlen) < 0)
		return -1;
	if (ins && !cJSON_IsNull(ins) && !cJSON_IsBool(ins)) {
		errf(err, errlen, "%s: \"insecure-skip-tls-verify\" is not a boolean", f->path);
		return -1;
	}
	if (dc && !cJSON_IsNull(dc) && !cJSON_IsBool(dc)) {
		errf(err, errlen, "%s: \"disable-compression\" is not a boolean", f->path);
		return -1;
	}
	k->insecure = cJSON_IsTrue(ins);
	k->disable_compression = cJSON_IsTrue(dc);
	/* client-go's parseProxyURL: http, https or socks5 */
	if (k->proxy_url && *k->proxy_url && strncmp(k->proxy_url, "http://", 7) != 0 &&
	    strncmp(k->proxy_url, "https://", 8) != 0 && strncmp(k->proxy_url, "socks5://", 9) != 0) {
		errf(err, errlen, "%s: proxy-url \"%.200s\": unsupported scheme, must be http, https, or socks5",
			f->path, k->proxy_url);
		return -1;
	}
	/* extensions: [{name, extension}]; the exec one goes to exec plugins */
	cJSON_ArrayForEach(ext, cJSON_GetObjectItemCaseSensitive(c, "extensions")) {
		const char *name;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ext, "extension");
		if (kube_json_str(ext, "name", &name) <= 0 || strcmp(name, "client.authentication.k8s.io/exec") != 0
		    || !v || k->exec_config)
			continue;
		if (!(k->exec_config = cJSON_PrintUnformatted(v))) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (!k->server) {
		errf(err, errlen, "%s: the cluster has no \"server\"", f->path);
		return -1;
	}
	if (strncmp(k->server, "https://", 8) != 0 && strncmp(k->server, "http://", 7) != 0) {
		errf(err, errlen, "%s: server \"%.200s\": not an http:// or https:// URL", f->path, k->server);
		return -1;
	}
	if (!url_has_host(k->server)) {
		errf(err, errlen, "%s: server \"%.200s\": no host in the URL", f->path, k->server);
		return -1;
	}
	l = strlen(k->server);
	while (l > 0 && k->server[l - 1] == '/')
		k->server[--l] = '\0';
	if (k->ca_pem) {                /* -data beats the path */
		free(k->ca_file);
		k->ca_file = NULL;
	}
	return 0;
}

/* One Impersonate-* header line; 0 or -1. */
static int add_header(struct kube_conn *k, const char *name, const char *value,
	const struct kfile *f, char *err, size_t errlen)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char **h;

	if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n")) {
		errf(err, errlen, "%s: user impersonation: a value holds a line break (CR or LF)", f->path);
		return -1;
	}
	if (!(h = realloc(k->headers, (k->nheaders + 2) * sizeof(*h))))
		goto nomem;
	k->headers = h;
	if (!(h[k->nheaders] = malloc(n)))
		goto nomem;
	snprintf(h[k->nheaders], n, "%s: %s", name, value);
	h[++k->nheaders] = NULL;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
	return -1;
}

/* A list of strings; 0 (absent or null), 1, -1 (not one). */
static int str_list(const cJSON *o, const char *key, const cJSON **arr)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *it;

	*arr = NULL;
	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a))
		return -1;
	cJSON_ArrayForEach(it, a)
		if (!cJSON_IsString(it))
			return -1;
	*arr = a;
	return 1;
}

/*
 * The user's as, as-uid, as-groups and as-user-extra: the headers
 * client-go's impersonating round tripper adds (Impersonate-User,
 * -Uid, one Impersonate-Group per group, one Impersonate-Extra-KEY per
 * value, the key %-escaped where a header name cannot hold a byte).
 */
static int impersonation(const cJSON *u, const struct kfile *f, struct kube_conn *k,
	char *err, size_t errlen)
{
	const char *as, *uid;
	const cJSON *groups, *extra, *kv, *it;

	if (kube_json_str(u, "as", &as) < 0 || kube_json_str(u, "as-uid", &uid) < 0 ||
	    str_list(u, "as-groups", &groups) < 0) {
		errf(err, errlen, "%s: user \"as\", \"as-uid\" or \"as-groups\" is malformed", f->path);
		return -1;
	}
	extra = cJSON_GetObjectItemCaseSensitive(u, "as-user-extra");
	if (extra && !cJSON_IsNull(extra) && !cJSON_IsObject(extra)) {
		errf(err, errlen, "%s: user \"as-user-extra\" is not a map", f->path);
		return -1;
	}
	if (!(as && *as) && !(uid && *uid) && !groups && !cJSON_GetArraySize(extra))
		return 0;
	/* client-go: the user header marks impersonation; it goes even empty */
	if (add_header(k, "Impersonate-User", as ? as : "", f, err, errlen) < 0)
		return -1;
	if (uid && *uid && add_header(k, "Impersonate-Uid", uid, f, err, errlen) < 0)
		return -1;
	cJSON_ArrayForEach(it, groups)
		if (add_header(k, "Impersonate-Group", it->valuestring, f, err, errlen) < 0)
			return -1;
	cJSON_ArrayForEach(kv, extra) {
		char name[512];
		size_t o = (size_t)snprintf(name, sizeof(name), "Impersonate-Extra-");
		const cJSON *vals;
		if (str_list(extra, kv->string, &vals) < 0) {
			errf(err, errlen, "%s: user \"as-user-extra\": \"%.100s\" is not a list of strings",
				f->path, kv->string);
			return -1;
		}
		for (const unsigned char *c = (const unsigned char *)kv->string; *c && o + 4 < sizeof(name); c++) {
			/* net/http's token bytes stay, '%' and the rest are %-escaped */
			if ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c != '%' && strchr("!#$&'*+-.^_`|~", *c)))
				name[o++] = (char)*c;
			else
				o += (size_t)snprintf(name + o, sizeof(name) - o, "%%%02X", *c);
		}
		name[o] = '\0';
		cJSON_ArrayForEach(it, vals)
			if (add_header(k, name, it->valuestring, f, err, errlen) < 0)
				return -1;
	}
	return 0;
}

static int fill_user(const cJSON *u, const struct kfile *f, struct kube_conn *k,
	char *err, size_t errlen)
{
	const cJSON *x;

	if (!u)
		return 0;
	if (string_field(u, "token", f, &k->token, err, errlen) < 0 ||
	    path_field(u, "tokenFile", f, &k->token_file, err, errlen) < 0 ||
	    path_field(u, "client-certificate", f, &k->cert_file, err, errlen) < 0 ||
	    path_field(u, "client-key", f, &k->key_file, err, errlen) < 0 ||
	    data_field(u, "client-certificate-data", f, &k->cert_pem, &k->cert_pem_len, err, errlen) < 0 ||
	    data_field(u, "client-key-data", f, &k->key_pem, &k->key_pem_len, err, errlen) < 0 ||
	    string_field(u, "username", f, &k->username, err, errlen) < 0 ||
	    string_field(u, "password", f, &k->password, err, errlen) < 0)
		return -1;
	/* these go into request headers: a line break would inject headers */
	if (k->token && strpbrk(k->token, "\r\n")) {
		errf(err, errlen, "%s: user \"token\" holds a line break (CR or LF); a token is one line", f->path);
		return -1;
	}
	if ((k->username && strpbrk(k->username, "\r\n")) || (k->password && strpbrk(k->password, "\r\n"))) {
		errf(err, errlen, "%s: user \"username\" or \"password\" holds a line break (CR or LF)", f->path);
		return -1;
	}
	if (k->cert_pem) {
		free(k->cert_file);
		k->cert_file = NULL;
	}
	if (k->key_pem) {
		free(k->key_file);
		k->key_file = NULL;
	}
	if (!(k->cert_file || k->cert_pem) != !(k->key_file || k->key_pem)) {
		errf(err, errlen, "%s: a client certificate needs its key (and the key its certificate)", f->path);
		return -1;
	}
	x = cJSON_GetObjectItemCaseSensitive(u, "auth-provider");
	if (x && !cJSON_IsNull(x)) {
		errf(err, errlen, "%s: user auth-provider is not supported (use an exec plugin)", f->path);
		return -1;
	}
	x = cJSON_GetObjectItemCaseSensitive(u, "exec");
	if (x && !cJSON_IsNull(x) && parse_exec(x, f, k, err, errlen) < 0)
		return -1;
	return impersonation(u, f, k, err, errlen);
}

int kubeconfig_load(const char *paths, const char *context,
	struct kube_conn *k, char *err, size_t errlen)
{
	struct kset s = { NULL, 0 };
	struct kube_conn c;
	char *list = NULL, *save = NULL, *p, *home_cfg = NULL;
	const char *cur = NULL, *cname, *uname, *ns, *cfile = NULL;
	const cJSON *ctx, *cl, *us = NULL;
	const struct kfile *cf, *clf, *uf;
	char buf[1024];
	int rc;

	memset(&c, 0, sizeof(c));
	if (!paths || !*paths)
		paths = getenv("KUBECONFIG");
	if (!paths || !*paths) {
		const char *home = getenv("HOME");
		size_t n = strlen(home ? home : "") + 16;
		if (!(home_cfg = malloc(n)))
			goto nomem;
		snprintf(home_cfg, n, "%s/.kube/config", home ? home : "");
		paths = home_cfg;
	}
	if (!(list = strdup(paths)))
		goto nomem;
	for (p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
		if (load_one(&s, p, err, errlen) < 0)
			goto fail;
	if (s.n == 0) {
		errf(err, errlen, "no kubeconfig file found (%s)", paths);
		goto fail;
	}
	for (size_t i = 0; i < s.n && !cur; i++) {
		if (s.files[i].doc && kube_json_str(s.files[i].doc, "current-context", &cur) < 0) {
			errf(err, errlen, "%s: \"current-context\" is not a string", s.files[i].path);
			goto fail;
		}
		if (cur && !*cur)
			cur = NULL;
		if (cur)
			cfile = s.files[i].path;
	}
	if (context && *context)
		cur = context;
	if (!cur) {
		errf(err, errlen, "%s: no current-context; name a context (kubeconfig PATH CONTEXT)", s.files[0].path);
		goto fail;
	}
	rc = find_named(&s, "contexts", "context", cur, &ctx, &cf, err, errlen);
	if (rc < 0)
		goto fail;
	if (rc > 0 || !ctx) {
		errf(err, errlen, "%s: context \"%s\" not found", cfile && cur != context ? cfile : paths, cur);
		goto fail;
	}
	if (kube_json_str(ctx, "cluster", &cname) < 0 || kube_json_str(ctx, "user", &uname) < 0 ||
	    kube_json_str(ctx, "namespace", &ns) < 0) {
		errf(err, errlen, "%s: context \"%s\": a field is not a string", cf->path, cur);
		goto fail;
	}
	if (!cname || !*cname) {
		errf(err, errlen, "%s: context \"%s\" names no cluster", cf->path, cur);
		goto fail;
	}
	rc = find_named(&s, "clusters", "cluster", cname, &cl, &clf, err, errlen);
	if (rc < 0)
		goto fail;
	if (rc > 0 || !cl) {
		errf(err, errlen, "%s: context \"%s\": cluster \"%s\" not found", cf->path, cur, cname);
		goto fail;
	}
	if (fill_cluster(cl, clf, &c, err, errlen) < 0)
		goto fail;
	if (uname && *uname) {
		rc = find_named(&s, "users", "user", uname, &us, &uf, err, errlen);
		if (rc < 0)
			goto fail;
		if (rc > 0) {
			errf(err, errlen, "%s: context \"%s\": user \"%s\" not found", cf->path, cur, uname);
			goto fail;
		}
		if (fill_user(us, uf, &c, err, errlen) < 0)
			goto fail;
	}
	if (ns && *ns && !(c.namespace = strdup(ns)))
		goto nomem;
	/* an inline token is re-read from here when the files change */
	if (c.token && (!(c.kubeconfig_paths = strdup(paths)) || !(c.kubeconfig_context = strdup(cur))))
		goto nomem;
	snprintf(buf, sizeof(buf), "kubeconfig %s, context %s", paths, cur);
	if (!(c.origin = strdup(buf)))
		goto nomem;
	kset_free(&s);
	free(list);
	free(home_cfg);
	*k = c;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
fail:
	kset_free(&s);
	free(list);
	free(home_cfg);
	kube_conn_clear(&c);
	return -1;
}
