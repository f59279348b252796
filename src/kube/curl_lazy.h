/*
 * curl_lazy.h -- libcurl loaded on first use (curl_lazy.c).  Callers use
 * libcurl's own API; these say whether it is there.
 */
#ifndef GLOBALDNS_CURL_LAZY_H
#define GLOBALDNS_CURL_LAZY_H

/* Load libcurl.so.4 now if not yet loaded: 0, or -1 (curl_lazy_error
 * says why). */
int curl_lazy_load(void);

/* Why libcurl could not be loaded ("" if it was, or was not tried). */
const char *curl_lazy_error(void);

/* 1 once libcurl is loaded. */
int curl_lazy_loaded(void);

#endif
