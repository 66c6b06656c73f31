/* test_channel.c - the channel name rule (mc_channel.h): identity-provider subjects fit,
 * what needs escaping does not, the length bound, and the rule as docs/protocol.md and
 * docs/asyncapi.yaml state it is the rule the code applies. */
#include "mc_channel.h"
#include "mc_test.h"

#include <stdlib.h>
#include <string.h>

#ifndef MC_SOURCE_DIR
#error "MC_SOURCE_DIR must name the source tree"
#endif

static int valid(const char *s)
{
    return mc_channel_valid(s, strlen(s));
}

static void test_idp_subjects(void)
{
    static const char *const ok[] = {
        "Application", "User-42", "Team-7", "Todo.x:y_z-1",
        "User-auth0|5f7c8ec7c33c6c004bbafe82", "User-google-oauth2|104573226539227163425",
        "User-samlp|corp|jane@example.com", "User-jane.doe+todo@example.com",
        "User-3f2504e0-4f89-41d3-9a0c-0305e82c3301", "User-hTZ2mwQ8Hbo/AqWSCU2h2aK2dVM=",
        "User-AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "User-https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P",
        "User-system:serviceaccount:prod:worker", "User-~alice",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!valid(ok[i]))
            fprintf(stderr, "refused: %s\n", ok[i]);
        MC_CHECK(valid(ok[i]));
    }
}

static void test_refused(void)
{
    static const char *const bad[] = {
        "", "a b", "User-jane doe", "a\tb", "a\nb", "a\"b", "a'b", "a`b", "a\\b", "a%20b",
        "a#b", "a?b", "a&b", "a<b>", "a;b", "a,b", "a*", "$a", "a!", "a(b)", "a[0]", "{a}",
        "a^b", "User-\xc3\xa9", "User-\x7f", "\x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (valid(bad[i]))
            fprintf(stderr, "accepted: %s\n", bad[i]);
        MC_CHECK(!valid(bad[i]));
    }
    MC_CHECK(!mc_channel_valid(NULL, 0));
    MC_CHECK(!mc_channel_valid("a\0b", 3)); /* a NUL inside (a JSON string may hold one) */
    MC_CHECK(mc_channel_valid("a\0b", 1));  /* len, not the NUL, ends the name */
}

static void test_length(void)
{
    char s[MC_CHANNEL_MAX + 2];
    memset(s, 'x', sizeof s);
    MC_CHECK(mc_channel_valid(s, 1));
    MC_CHECK(mc_channel_valid(s, MC_CHANNEL_MAX));
    MC_CHECK(!mc_channel_valid(s, MC_CHANNEL_MAX + 1));
    /* "User-" and an RFC 5321 address of 254 bytes */
    MC_CHECK(MC_CHANNEL_MAX >= 5 + 254);
}

/* The set inside the brackets of MC_CHANNEL_PATTERN: ranges a-z, then single characters
 * (a '-' last is itself). */
static void pattern_set(int *in)
{
    const char *p = strchr(MC_CHANNEL_PATTERN, '[') + 1, *end = strchr(p, ']');
    memset(in, 0, 256 * sizeof *in);
    while (p < end) {
        if (p + 2 < end && p[1] == '-') {
            for (int c = (unsigned char)p[0]; c <= (unsigned char)p[2]; c++)
                in[c] = 1;
            p += 3;
        } else {
            in[(unsigned char)*p++] = 1;
        }
    }
}


static void test_pattern_is_the_rule(void)
{
    int in[256];
    char bound[32];
    pattern_set(in);
    for (int c = 0; c < 256; c++) {
        if (mc_channel_char(c) != in[c])
            fprintf(stderr, "byte 0x%02x: code %d, pattern %d\n", c, mc_channel_char(c), in[c]);
        MC_CHECK_INT(!!mc_channel_char(c), in[c]);
    }
    snprintf(bound, sizeof bound, "{1,%d}$", MC_CHANNEL_MAX);
    MC_CHECK_CONTAINS(MC_CHANNEL_PATTERN, bound);
    static const char *const docs[] = {"docs/protocol.md", "docs/asyncapi.yaml"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *doc = mc_test_slurp(docs[i]);
        MC_CHECK(doc != NULL);
        if (doc)
            MC_CHECK_CONTAINS(doc, MC_CHANNEL_PATTERN);
        free(doc);
    }
}

int main(void)
{
    MC_TEST_RUN(test_idp_subjects);
    MC_TEST_RUN(test_refused);
    MC_TEST_RUN(test_length);
    MC_TEST_RUN(test_pattern_is_the_rule);
    MC_TEST_DONE();
}
