/* channel.c - the channel name rule (mc_channel.h). */
#include "mc_channel.h"

int mc_channel_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '~' || c == '-' || c == ':' || c == '/' || c == '@' ||
           c == '|' || c == '+' || c == '=';
}

int mc_channel_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > MC_CHANNEL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!mc_channel_char((unsigned char)s[i]))
            return 0;
    return 1;
}
