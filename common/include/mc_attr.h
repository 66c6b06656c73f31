/*
 * mc_attr.h - the attribute types of models.json and what a type means for a value: the
 * check of a JSON value against an attribute, its PostgreSQL column type, the text bound
 * for it as a parameter, and RFC 3339 timestamps. Knows nothing of models or conditions.
 */
#ifndef MC_ATTR_H
#define MC_ATTR_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    MC_ATTR_STRING = 0,
    MC_ATTR_TEXT,
    MC_ATTR_INTEGER,
    MC_ATTR_BIGINT,
    MC_ATTR_FLOAT,
    MC_ATTR_BOOLEAN,
    MC_ATTR_TIMESTAMP,
    MC_ATTR_JSON,
    MC_ATTR_REFERENCE,
    MC_ATTR__COUNT
} mc_attr_type_t;

typedef struct {
    char *name;             /* [a-z][a-z0-9_]*, also the column name */
    mc_attr_type_t type;
    int required;           /* NOT NULL, must be given on create */
    long max_length;        /* string (default 255), text (default 10,000): characters */
    long max_bytes;         /* json: bytes in a change event (default 65,536) */
    char *references;       /* reference: the target model's name */
    int unique;             /* UNIQUE index */
    int has_min, has_max;   /* numeric bounds (integer, bigint, float) */
    double min, max;
    json_t *enum_values;    /* array of allowed values (string/integer), or NULL */
    int bytewise;           /* string, text: the column's own collation orders by bytes
                               ("C"), set by model-api once it has seen the table; else
                               lists order the column COLLATE "C" */
} mc_attr_t;

/* "string", "integer", ... ("unknown" out of range). */
const char *mc_attr_type_name(mc_attr_type_t type);

/* The type called name ("string", ...), or MC_ATTR__COUNT when there is none. */
mc_attr_type_t mc_attr_type_from_name(const char *name);

/* The PostgreSQL column type for attr, e.g. "varchar(200)", "bigint", "jsonb". Static or
 * written into buf. */
const char *mc_attr_sql_type(const mc_attr_t *attr, char *buf, size_t buflen);

/*
 * Checks one value against attr's type and constraints. Returns NULL when valid, else a
 * static message ("must be a string", ...) or one written into buf.
 */
const char *mc_attr_check_value(const mc_attr_t *attr, const json_t *value, char *buf,
                                size_t buflen);

/*
 * An upper bound of the bytes value takes where PostgreSQL renders the stored value as
 * JSON in a change event (jsonb text: `{"a": 1}`, control characters as \u00XX, a number
 * such as 1e300 written out digit by digit). Counts the value only, not its key. Used for
 * json's max_bytes and for the size of change events.
 */
size_t mc_attr_event_bytes(const mc_attr_t *attr, const json_t *value);

/* The largest mc_attr_event_bytes() of any value attr accepts, or 0 when unbounded. */
size_t mc_attr_event_bytes_max(const mc_attr_t *attr);

/*
 * Renders value (already validated for attr) as the text form bound to a PostgreSQL
 * parameter. Returns a heap string, or NULL for JSON null (SQL NULL). *failed is set
 * on allocation failure.
 */
char *mc_attr_param_text(const mc_attr_t *attr, const json_t *value, int *failed);

/*
 * Parses an RFC 3339 timestamp (date, optional time, optional fraction, Z or ±hh:mm;
 * 'T' or ' ' between date and time; no offset means UTC) into seconds since the epoch.
 * out may be NULL. Returns 0 on success, -1 when text is not such a timestamp.
 */
int mc_attr_parse_time(const char *text, double *out);

#endif
