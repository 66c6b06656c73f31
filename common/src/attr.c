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
