/*
 * mc_json.h - reading a JSON document from a file the way every configuration loader of
 * modelcast does: duplicate keys refused, errors naming the file, line and column.
 */
#ifndef MC_JSON_H
#define MC_JSON_H

#include <jansson.h>
#include <stddef.h>

/*
 * Reads the JSON document at path into *out (a new reference the caller owns). On error
 * *out is NULL, err says "<path>: line L column C: <problem>" and the result is MC_ERR_IO
 * (the file cannot be read) or MC_ERR_JSON (it is not valid JSON, or repeats a key).
 */
int mc_json_load_file(const char *path, json_t **out, char *err, size_t errlen);

#endif
