/*
 * clock.h - the two clocks of the bench load tools: wall time in microseconds (comparable
 * across processes, carried in messages to measure latency) and monotonic seconds (deadlines);
 * and their pause (nanosleep: usleep is gone from POSIX and refuses a second or more).
 */
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock time (CLOCK_REALTIME) in microseconds since the epoch. */
static inline int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic time (CLOCK_MONOTONIC) in seconds, for deadlines and elapsed times. */
static inline double bench_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps us microseconds (any number of them). */
static inline void bench_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif
