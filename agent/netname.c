// SPDX-License-Identifier: Apache-2.0
/*
 * The host a connection's first bytes name: TLS ClientHello server_name, HTTP proxy CONNECT
 * target, HTTP/1 Host header. Only what the client itself sent; nothing is guessed.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/netname.h"

static unsigned int be16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/* Copies a host name, refusing anything that is not printable (a name is not binary). */
static int copy_host(const uint8_t *s, size_t n, char *out, size_t outlen)
{
	if (!n || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return -1;
		out[i] = (char)s[i];
	}
	out[n] = '\0';
	return 0;
}

static int tls_sni(const uint8_t *d, size_t n, char *out, size_t outlen)
{
	size_t off, end, ext_end;

	/* record: handshake(22), version 3.x; handshake: client_hello(1) */
	if (n < 5 + 4 + 2 + 32 + 1 || d[0] != 0x16 || d[1] != 0x03 || d[5] != 0x01)
		return -1;
	end = 5 + be16(d + 3);
	if (end > n)
		end = n; /* the hello may go on past what was captured: parse what is there */
	off = 5 + 4 + 2 + 32;
	off += 1 + d[off];                          /* session id */
	if (off + 2 > end)
		return -1;
	off += 2 + be16(d + off);                   /* cipher suites */
	if (off + 1 > end)
		return -1;
	off += 1 + d[off];                          /* compression methods */
	if (off + 2 > end)
		return -1;
	ext_end = off + 2 + be16(d + off);
	off += 2;
	if (ext_end > end)
		ext_end = end;
	while (off + 4 <= ext_end) {
		unsigned int type = be16(d + off), len = be16(d + off + 2);
		size_t p = off + 4;

		off = p + len;
		if (type != 0)
			continue;
		/* server_name_list: length, then entries of (type, length, name); type 0 = host */
		if (p + 2 + 3 > ext_end || d[p + 2] != 0)
			return -1;
		len = be16(d + p + 3);
		if (p + 5 + len > ext_end)
			return -1;
		return copy_host(d + p + 5, len, out, outlen);
	}
	return -1;
}

/* "host:port" or "[v6]:port" -> host */
static int strip_port(char *h)
{
	char *c;

	if (h[0] == '[') {
		c = strchr(h, ']');
		if (!c)
			return -1;
		memmove(h, h + 1, c - h - 1);
		h[c - h - 1] = '\0';
		return 0;
	}
	c = strrchr(h, ':');
	if (c && strchr(h, ':') == c)
		*c = '\0';
	return h[0] ? 0 : -1;
}

static int http_connect(const uint8_t *d, size_t n, char *out, size_t outlen)
{
	const uint8_t *sp;

	if (n < 9 || memcmp(d, "CONNECT ", 8))
		return -1;
	sp = memchr(d + 8, ' ', n - 8);
	if (!sp || copy_host(d + 8, sp - (d + 8), out, outlen))
		return -1;
	return strip_port(out);
}

static int http_host(const uint8_t *d, size_t n, char *out, size_t outlen)
{
	static const char *const methods[] = { "GET ", "POST ", "PUT ", "HEAD ", "DELETE ",
					       "PATCH ", "OPTIONS " };
	size_t i, m;

	for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
		if (n > strlen(methods[m]) && !memcmp(d, methods[m], strlen(methods[m])))
			break;
	if (m == sizeof(methods) / sizeof(methods[0]))
		return -1;
	for (i = 0; i + 7 < n; i++) {
		size_t s, e;

		if (d[i] != '\n' || strncasecmp((const char *)d + i + 1, "host:", 5))
			continue;
		s = i + 6;
		while (s < n && (d[s] == ' ' || d[s] == '\t'))
			s++;
		for (e = s; e < n && d[e] != '\r' && d[e] != '\n'; e++)
			;
		if (e == n || copy_host(d + s, e - s, out, outlen))
			return -1; /* a header cut by the capture is not a name */
		return strip_port(out);
	}
	return -1;
}

const char *netname_from_data(const uint8_t *d, size_t n, char *out, size_t outlen)
{
	if (!tls_sni(d, n, out, outlen))
		return "tls_sni";
	if (!http_connect(d, n, out, outlen))
		return "http_connect";
	if (!http_host(d, n, out, outlen))
		return "http_host";
	return NULL;
}
