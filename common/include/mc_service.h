/*
 * mc_service.h - the start every service shares: settings (defaults, environment, --help),
 * logging at MC_LOG_LEVEL, and signals taken synchronously by the main thread (sigwait).
 */
#ifndef MC_SERVICE_H
#define MC_SERVICE_H

#include <signal.h>

#include "mc_config.h"

/*
 * Loads conf from opts (which must contain MC_LOG_LEVEL), initialises logging as service,
 * blocks SIGINT and SIGTERM in this and every later thread (wait for them with
 * sigwait(sigs)) and ignores SIGPIPE. Call before starting any thread.
 * Returns -1 to go on, else the exit status: 0 after --help/--version, 2 on a bad setting
 * (the message is on stderr). conf is cleaned up when the status is not -1.
 */
int mc_service_init(const mc_cfg_option_t *opts, void *conf, const char *prog,
                    const char *service, const char *summary, int argc, char **argv,
                    sigset_t *sigs);

#endif
