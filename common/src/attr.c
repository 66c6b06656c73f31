/* attr.c - attribute types: value checks, column types, parameter text, timestamps. */
#include "mc_attr.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const attr__type_names[MC_ATTR__COUNT] = {
    "string", "text", "integer", "bigint", "float", "boolean", "timestamp", "json", "reference",
};

const char *mc_attr_type_name(mc_attr_type_t type)
{
    return type >= 0 && type < MC_ATTR__COUNT ? attr__type_names[type] : "unknown";
}

mc_attr_type_t mc_attr_type_from_name(const char *name)
{
    for (int t = 0; name && t < MC_ATTR__COUNT; t++)
        if (strcmp(name, attr__type_names[t]) == 0)
            return (mc_attr_type_t)t;
    return MC_ATTR__COUNT;
}

const char *mc_attr_sql_type(const mc_attr_t *attr, char *buf, size_t buflen)
{
    switch (attr->type) {
    case MC_ATTR_STRING:
        if (attr->max_length > 0) {
            snprintf(buf, buflen, "varchar(%ld)", attr->max_length);
            return buf;
        }
        return "varchar";
    case MC_ATTR_TEXT:
        return "text";
    case MC_ATTR_INTEGER:
        return "integer";
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        return "bigint";
    case MC_ATTR_FLOAT:
        return "double precision";
    case MC_ATTR_BOOLEAN:
        return "boolean";
    case MC_ATTR_TIMESTAMP:
        return "timestamptz";
    case MC_ATTR_JSON:
        return "jsonb";
    default:
        return "text";
    }
}

static int attr__digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int mc_attr_parse_time(const char *text, double *out)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 1;
    double frac = 0;
    const char *p = text;

    if (!p || attr__digits(&p, 4, &y) || *p++ != '-' || attr__digits(&p, 2, &mo) ||
        *p++ != '-' || attr__digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (attr__digits(&p, 2, &h) || *p++ != ':' || attr__digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (attr__digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                double scale = 0.1;
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
                    if (n >= 9)
                        return -1;
                    frac += (*p - '0') * scale;
                    scale /= 10;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
            if (attr__digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (*p && attr__digits(&p, 2, &om))
                return -1;
        }
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (out)
        *out = (double)t + frac - sign * (oh * 3600.0 + om * 60.0);
    return 0;
}

static int attr__json_huge(const json_t *v);

/* Characters (UTF-8 code points) in s. */
static size_t attr__utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

const char *mc_attr_check_value(const mc_attr_t *a, const json_t *v, char *buf,
                                size_t buflen)
{
    if (json_is_null(v))
        return a->required ? "is required" : NULL;
    switch (a->type) {
    case MC_ATTR_STRING:
    case MC_ATTR_TEXT:
        if (!json_is_string(v))
            return "must be a string";
        if (strlen(json_string_value(v)) != json_string_length(v))
            return "must not contain NUL characters";
        if (a->max_length > 0 && attr__utf8_len(json_string_value(v)) > (size_t)a->max_length) {
            snprintf(buf, buflen, "is longer than %ld characters", a->max_length);
            return buf;
        }
        break;
    case MC_ATTR_INTEGER:
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            return "must be an integer in the 32-bit range";
        break;
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        if (!json_is_integer(v))
            return "must be an integer";
        break;
    case MC_ATTR_FLOAT:
        if (!json_is_number(v))
            return "must be a number";
        break;
    case MC_ATTR_BOOLEAN:
        if (!json_is_boolean(v))
            return "must be true or false";
        break;
    case MC_ATTR_TIMESTAMP:
        if (!json_is_string(v) || mc_attr_parse_time(json_string_value(v), NULL) != 0)
            return "must be an RFC 3339 timestamp, e.g. 2026-11-27T10:00:00Z";
        break;
    case MC_ATTR_JSON:
        if (attr__json_huge(v))
            return "holds a number beyond the 64-bit integer range";
        if (a->max_bytes > 0 && mc_attr_event_bytes(a, v) > (size_t)a->max_bytes) {
            snprintf(buf, buflen, "is larger than %ld bytes", a->max_bytes);
            return buf;
        }
        break;
    default:
        break;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (a->has_min && d < a->min) {
            snprintf(buf, buflen, "must be at least %g", a->min);
            return buf;
        }
        if (a->has_max && d > a->max) {
            snprintf(buf, buflen, "must be at most %g", a->max);
            return buf;
        }
    }
    if (a->enum_values) {
        size_t i;
        json_t *e;
        json_array_foreach(a->enum_values, i, e) {
            if (json_equal(e, (json_t *)v))
                return NULL;
        }
        return "is not one of the allowed values";
    }
    return NULL;
}

/* Bytes of s as a JSON string the way PostgreSQL escapes it, quotes included. */
static size_t attr__escaped_bytes(const char *s, size_t len)
{
    size_t n = 2;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
            c == '\t')
            n += 2;
        else if (c < 0x20)
            n += 6; /* \u00XX */
        else
            n += 1;
    }
    return n;
}

/*
 * A number as PostgreSQL's numeric prints it: never with an exponent, so 1e300 takes 301
 * digits. At most 17 significant digits (a double), a sign, a point and "0.".
 */
static size_t attr__real_bytes(double d)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17e", d);
    const char *e = strchr(buf, 'e');
    long x = e ? strtol(e + 1, NULL, 10) : 0;
    return 24 + (size_t)(x < 0 ? -x : x);
}

/* Upper bound of any JSON value rendered as jsonb text. */
/* NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's parser (2,048 levels) */
static size_t attr__json_bytes(const json_t *v)
{
    size_t n = 0, i;
    const char *key;
    json_t *item;
    char buf[32];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        n = 2;
        json_object_foreach((json_t *)v, key, item)
            n += (n > 2 ? 2 : 0) + attr__escaped_bytes(key, strlen(key)) + 2 +
                 attr__json_bytes(item);
        return n;
    case JSON_ARRAY:
        n = 2;
        json_array_foreach(v, i, item)
            n += (i ? 2 : 0) + attr__json_bytes(item);
        return n;
    case JSON_STRING:
        return attr__escaped_bytes(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return (size_t)snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return attr__real_bytes(json_real_value(v));
    case JSON_FALSE:
        return 5;
    case JSON_TRUE:
    case JSON_NULL:
    default:
        return 4;
    }
}

/*
 * Whether v holds a number PostgreSQL's jsonb would print as an integer beyond 64 bits
 * (1e19 is stored as numeric and printed "10000000000000000000"): such a record could not
 * be read back as JSON here.
 */
/* NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's parser (2,048 levels) */
static int attr__json_huge(const json_t *v)
{
    size_t i;
    const char *key;
    json_t *item;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item)
            if (attr__json_huge(item))
                return 1;
        return 0;
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
            if (attr__json_huge(item))
                return 1;
        return 0;
    case JSON_REAL:
        return json_real_value(v) >= 9223372036854775807.0 ||
               json_real_value(v) <= -9223372036854775807.0;
    default:
        return 0;
    }
}

/* A timestamptz as jsonb prints it: "294276-12-31T23:59:59.999999+00:00", room for " BC". */
#define ATTR_TIMESTAMP_BYTES 48
/* The widest double: 4.9e-324 is "0." and 323 zeros before its digits. */
#define ATTR_FLOAT_BYTES (24 + 324)

size_t mc_attr_event_bytes(const mc_attr_t *attr, const json_t *value)
{
    if (!value || json_is_null(value))
        return 4;
    if (attr && attr->type == MC_ATTR_TIMESTAMP && json_is_string(value))
        return ATTR_TIMESTAMP_BYTES;
    return attr__json_bytes(value);
}

size_t mc_attr_event_bytes_max(const mc_attr_t *attr)
{
    switch (attr->type) {
    case MC_ATTR_STRING:
    case MC_ATTR_TEXT:
        return attr->max_length > 0 ? 6 * (size_t)attr->max_length + 2 : 0;
    case MC_ATTR_INTEGER:
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        return 20;
    case MC_ATTR_FLOAT:
        return ATTR_FLOAT_BYTES;
    case MC_ATTR_BOOLEAN:
        return 5;
    case MC_ATTR_TIMESTAMP:
        return ATTR_TIMESTAMP_BYTES;
    case MC_ATTR_JSON:
        return attr->max_bytes > 0 ? (size_t)attr->max_bytes : 0;
    default:
        return 0;
    }
}

char *mc_attr_param_text(const mc_attr_t *attr, const json_t *value, int *failed)
{
    char buf[64];
    char *out = NULL;

    if (!value || json_is_null(value))
        return NULL;
    switch (attr->type) {
    case MC_ATTR_STRING:
    case MC_ATTR_TEXT:
    case MC_ATTR_TIMESTAMP:
        out = strdup(json_string_value(value) ? json_string_value(value) : "");
        break;
    case MC_ATTR_INTEGER:
    case MC_ATTR_BIGINT:
    case MC_ATTR_REFERENCE:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        out = strdup(buf);
        break;
    case MC_ATTR_FLOAT:
        snprintf(buf, sizeof buf, "%.17g", json_number_value(value));
        out = strdup(buf);
        break;
    case MC_ATTR_BOOLEAN:
        out = strdup(json_is_true(value) ? "true" : "false");
        break;
    case MC_ATTR_JSON:
    default:
        out = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        break;
    }
    if (!out)
        *failed = 1;
    return out;
}
