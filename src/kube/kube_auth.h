/*
 * kube_auth.h -- credentials for requests to the Kubernetes API server,
 * from a resolved kubeconfig.h connection.
 *
 * Per request, kube_auth_prepare fills the TLS settings and the identity
 * of an http_opts:
 *   - a fixed token, basic auth, or client certificates (files or PEM)
 *     pass straight through; a token written in a kubeconfig is read
 *     again when the kubeconfig's files change (looked at every minute)
 *     and at once after a 401, as kubectl reads it on every run;
 *   - a token file (a service account's, or kubeconfig tokenFile) is
 *     re-read at most every minute (bound tokens rotate) and at once after
 *     a 401; an unreadable file keeps the previous token;
 *   - an exec credential plugin runs asynchronously (posix_spawn, its
 *     stdout read through a libevent event, a 30 s limit, 1 MiB of output
 *     at most); its ExecCredential (a token and/or client certificate) is
 *     used until 10 s before its expirationTimestamp, then the plugin runs
 *     again.  The plugin inherits stdin (/dev/null), stdout (the pipe)
 *     and stderr, and no other descriptor of the daemon.  While it runs, prepare answers "wait", and the owner's
 *     callback says when it is done.
 * Everything runs on the event loop; nothing blocks but the final
 * waitpid of a plugin that has closed its stdout (polled, WNOHANG).
 */
#ifndef GLOBALDNS_KUBE_AUTH_H
#define GLOBALDNS_KUBE_AUTH_H

#include <stddef.h>

#include "http_client.h"
#include "kubeconfig.h"

struct event_base;
struct kube_auth;

/*
 * An exec plugin finished: err is NULL if it gave a credential (call
 * kube_auth_prepare again), else why it failed ("exec plugin CMD: ...",
 * valid during the call).  Runs from the loop; may call kube_auth_prepare.
 */
typedef void (*kube_auth_done_fn)(void *arg, const char *err);

/*
 * Credentials for conn on base.  conn and its strings are borrowed: they
 * must outlive the object; label (for log lines) is copied.  done is
 * called after each exec plugin run that kube_auth_prepare started.
 * Returns NULL if memory runs out.  Nothing runs until prepare.
 */
struct kube_auth *kube_auth_new(struct event_base *base,
	const struct kube_conn *conn, const char *label,
	kube_auth_done_fn done, void *arg);

/* Kill a running plugin (and reap it), free everything; NULL is fine. */
void kube_auth_free(struct kube_auth *a);

/*
 * Fill tls (all of it) and o->tls, o->bearer, o->username, o->password
 * for one request.  The strings point into a or its conn: valid until the
 * next prepare or refresh (http_get copies them).  Returns 0 ready; 1
 * wait (an exec plugin runs; done will be called); -1 with err (no token
 * could be read, the plugin could not start).
 */
int kube_auth_prepare(struct kube_auth *a, struct http_opts *o,
	struct http_tls *tls, char *err, size_t errlen);

/*
 * After a 401: drop or re-read the credential.  Returns 1 if a retry may
 * help at once (the token file changed; an exec credential was dropped, so
 * the next prepare runs the plugin), else 0.
 */
int kube_auth_refresh(struct kube_auth *a);

#endif
