/* json.c - JSON documents read from configuration files. */
#include "mc_json.h"
#include "mc_error.h"

#include <stdio.h>

int mc_json_load_file(const char *path, json_t **out, char *err, size_t errlen)
{
    json_error_t jerr;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (*out)
        return MC_OK;
    snprintf(err, errlen, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    return jerr.line < 0 || jerr.position == 0 ? MC_ERR_IO : MC_ERR_JSON;
}
