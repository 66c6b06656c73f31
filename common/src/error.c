/* error.c - descriptions of the mc_err_t codes. */
#include "mc_error.h"

static const struct {
    const char *name;
    const char *text;
} errors[MC_ERR__COUNT] = {
    [MC_OK] = {"MC_OK", "success"},
    [MC_ERR_NOMEM] = {"MC_ERR_NOMEM", "out of memory"},
    [MC_ERR_INVAL] = {"MC_ERR_INVAL", "invalid argument"},
    [MC_ERR_CONFIG] = {"MC_ERR_CONFIG", "invalid configuration"},
    [MC_ERR_HELP] = {"MC_ERR_HELP", "help requested"},
    [MC_ERR_IO] = {"MC_ERR_IO", "input/output error"},
    [MC_ERR_PG] = {"MC_ERR_PG", "PostgreSQL error"},
    [MC_ERR_KAFKA] = {"MC_ERR_KAFKA", "Kafka error"},
    [MC_ERR_JSON] = {"MC_ERR_JSON", "malformed JSON"},
    [MC_ERR_NOT_FOUND] = {"MC_ERR_NOT_FOUND", "not found"},
    [MC_ERR_TOO_LARGE] = {"MC_ERR_TOO_LARGE", "input too large"},
    [MC_ERR_TIMEOUT] = {"MC_ERR_TIMEOUT", "timed out"},
    [MC_ERR_BUSY] = {"MC_ERR_BUSY", "resource busy"},
};

const char *mc_strerror(int err)
{
    if (err < 0 || err >= MC_ERR__COUNT || !errors[err].text)
        return "unknown error";
    return errors[err].text;
}

const char *mc_errname(int err)
{
    if (err < 0 || err >= MC_ERR__COUNT || !errors[err].name)
        return "MC_ERR_UNKNOWN";
    return errors[err].name;
}
