/*
 * Unit tests of the checks of host names, DNS names and IP addresses that
 * host registration runs before a name can reach a certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "managers/names.h"

struct dns_case {
    const char *name;
    enum names_dns_check expected;
};

struct ip_case {
    const char *text;
    enum names_ip_check expected;
    const char *expected_out;
};

static const char *
dns_check_name(enum names_dns_check result)
{
    switch (result) {
    case NAMES_DNS_OK:
        return "NAMES_DNS_OK";
    case NAMES_DNS_INVALID:
        return "NAMES_DNS_INVALID";
    case NAMES_DNS_IP_ADDRESS:
        return "NAMES_DNS_IP_ADDRESS";
    case NAMES_DNS_NUMERIC_TLD:
        return "NAMES_DNS_NUMERIC_TLD";
    }
    return "(unknown)";
}

static const char *
ip_check_name(enum names_ip_check result)
{
    switch (result) {
    case NAMES_IP_OK:
        return "NAMES_IP_OK";
    case NAMES_IP_INVALID:
        return "NAMES_IP_INVALID";
    case NAMES_IP_UNSPECIFIED:
        return "NAMES_IP_UNSPECIFIED";
    case NAMES_IP_BROADCAST:
        return "NAMES_IP_BROADCAST";
    case NAMES_IP_MULTICAST:
        return "NAMES_IP_MULTICAST";
    case NAMES_IP_V4_MAPPED:
        return "NAMES_IP_V4_MAPPED";
    case NAMES_IP_V4_COMPATIBLE:
        return "NAMES_IP_V4_COMPATIBLE";
    }
    return "(unknown)";
}

/* Runs names_dns_name_check and names_dns_name_valid on each case and
 * names the case that fails. */
static void
check_dns_cases(const struct dns_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        enum names_dns_check got = names_dns_name_check(cases[i].name);
        bool valid = names_dns_name_valid(cases[i].name);

        if (got != cases[i].expected)
            fail_msg("names_dns_name_check(\"%s\"): expected %s, got %s",
                     cases[i].name, dns_check_name(cases[i].expected),
                     dns_check_name(got));
        if (valid != (cases[i].expected == NAMES_DNS_OK))
            fail_msg("names_dns_name_valid(\"%s\") returned %s", cases[i].name,
                     valid ? "true" : "false");
    }
}

/* Runs names_host_ip_check on each case and names the case that fails. */
static void
check_ip_cases(const struct ip_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char out[INET6_ADDRSTRLEN];
        enum names_ip_check got;

        memset(out, 'x', sizeof(out));
        got = names_host_ip_check(cases[i].text, out, sizeof(out));
        if (got != cases[i].expected)
            fail_msg("names_host_ip_check(\"%s\"): expected %s, got %s",
                     cases[i].text, ip_check_name(cases[i].expected),
                     ip_check_name(got));
        if (strcmp(out, cases[i].expected_out) != 0)
            fail_msg("names_host_ip_check(\"%s\"): expected out \"%s\", "
                     "got \"%.*s\"",
                     cases[i].text, cases[i].expected_out, (int)sizeof(out) - 1,
                     out);
    }
}

#define CASE_COUNT(cases) (sizeof(cases) / sizeof((cases)[0]))

static void
host_name_rules(void **state)
{
    (void)state;
    assert_true(names_host_name_valid("web1"));
    assert_true(names_host_name_valid("web-1.example_test"));
    assert_true(names_host_name_valid("...a"));
    assert_false(names_host_name_valid(""));
    assert_false(names_host_name_valid("."));
    assert_false(names_host_name_valid(".."));
    assert_false(names_host_name_valid("a/b"));
    assert_false(names_host_name_valid("a b"));
    assert_true(names_host_name_valid(
        "a23456789012345678901234567890123456789012345678901234567890123"));
    assert_false(names_host_name_valid(
        "a234567890123456789012345678901234567890123456789012345678901234"));
}

static void
dns_name_accepted(void **state)
{
    static const struct dns_case cases[] = {
        {"se.example.test", NAMES_DNS_OK},
        {"localhost", NAMES_DNS_OK},
        {"WWW.Example.TEST", NAMES_DNS_OK},
        {"1.example.test", NAMES_DNS_OK},
        {"10.0.0.5.example.test", NAMES_DNS_OK},
        {"xn--bcher-kva.example", NAMES_DNS_OK},
        {"a.1b", NAMES_DNS_OK},
        {"a.b1", NAMES_DNS_OK},
        {"a.0xg", NAMES_DNS_OK},
        {"a.x0", NAMES_DNS_OK},
        {"a.1-2", NAMES_DNS_OK},
    };

    (void)state;
    check_dns_cases(cases, CASE_COUNT(cases));
}

static void
dns_name_syntax_rejected(void **state)
{
    static const struct dns_case cases[] = {
        {"", NAMES_DNS_INVALID},
        {".", NAMES_DNS_INVALID},
        {"example.test.", NAMES_DNS_INVALID},
        {".example.test", NAMES_DNS_INVALID},
        {"a..b", NAMES_DNS_INVALID},
        {"*.example.test", NAMES_DNS_INVALID},
        {"-a.example.test", NAMES_DNS_INVALID},
        {"a-.example.test", NAMES_DNS_INVALID},
        {"a_b.example.test", NAMES_DNS_INVALID},
        {"a b.example.test", NAMES_DNS_INVALID},
        {"[::1]", NAMES_DNS_INVALID},
        {"fe80::1%eth0", NAMES_DNS_INVALID},
    };

    (void)state;
    check_dns_cases(cases, CASE_COUNT(cases));
}

static void
dns_name_label_limits(void **state)
{
    char name[300];

    (void)state;
    /* 63 bytes is the longest label. */
    memset(name, 'a', 63);
    strcpy(name + 63, ".test");
    assert_int_equal(names_dns_name_check(name), NAMES_DNS_OK);
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    assert_int_equal(names_dns_name_check(name), NAMES_DNS_INVALID);

    /* 253 bytes is the longest name: labels of 62, 63, 63 and 62 bytes
     * with 3 dots. One more byte in the last label, still within 63,
     * makes 254. */
    memset(name, 'a', 254);
    name[62] = name[126] = name[190] = '.';
    name[253] = '\0';
    assert_int_equal(strlen(name), 253);
    assert_int_equal(names_dns_name_check(name), NAMES_DNS_OK);
    name[253] = 'a';
    name[254] = '\0';
    assert_int_equal(names_dns_name_check(name), NAMES_DNS_INVALID);
}

static void
dns_name_ip_address_rejected(void **state)
{
    static const struct dns_case cases[] = {
        {"127.0.0.5", NAMES_DNS_IP_ADDRESS},
        {"192.0.2.10", NAMES_DNS_IP_ADDRESS},
        {"0.0.0.0", NAMES_DNS_IP_ADDRESS},
        {"255.255.255.255", NAMES_DNS_IP_ADDRESS},
        {"::1", NAMES_DNS_IP_ADDRESS},
        {"::", NAMES_DNS_IP_ADDRESS},
        {"2001:db8::10", NAMES_DNS_IP_ADDRESS},
        {"2001:DB8:0:0:0:0:0:10", NAMES_DNS_IP_ADDRESS},
        {"::ffff:198.18.0.1", NAMES_DNS_IP_ADDRESS},
    };

    (void)state;
    check_dns_cases(cases, CASE_COUNT(cases));
}

/* Names that inet_pton rejects but that a URL parser still reads as an
 * IPv4 address, because the last label is a number. */
static void
dns_name_numeric_tld_rejected(void **state)
{
    static const struct dns_case cases[] = {
        {"127.1", NAMES_DNS_NUMERIC_TLD},
        {"1234", NAMES_DNS_NUMERIC_TLD},
        {"2130706433", NAMES_DNS_NUMERIC_TLD},
        {"010.0.0.1", NAMES_DNS_NUMERIC_TLD},
        {"10.0.0.256", NAMES_DNS_NUMERIC_TLD},
        {"1.2.3.4.5", NAMES_DNS_NUMERIC_TLD},
        {"0x7f.0.0.1", NAMES_DNS_NUMERIC_TLD},
        {"127.0x1", NAMES_DNS_NUMERIC_TLD},
        {"a.0XFF", NAMES_DNS_NUMERIC_TLD},
        {"a.0x", NAMES_DNS_NUMERIC_TLD},
        {"host.example.123", NAMES_DNS_NUMERIC_TLD},
    };

    (void)state;
    check_dns_cases(cases, CASE_COUNT(cases));
}

static void
host_ip_accepted_canonical(void **state)
{
    static const struct ip_case cases[] = {
        {"192.0.2.10", NAMES_IP_OK, "192.0.2.10"},
        {"127.0.0.1", NAMES_IP_OK, "127.0.0.1"},
        {"1.0.0.0", NAMES_IP_OK, "1.0.0.0"},
        {"223.255.255.255", NAMES_IP_OK, "223.255.255.255"},
        {"240.0.0.1", NAMES_IP_OK, "240.0.0.1"},
        {"255.255.255.254", NAMES_IP_OK, "255.255.255.254"},
        {"::1", NAMES_IP_OK, "::1"},
        {"0:0:0:0:0:0:0:1", NAMES_IP_OK, "::1"},
        {"2001:DB8:0:0::10", NAMES_IP_OK, "2001:db8::10"},
        {"2001:db8:0:0:1:0:0:1", NAMES_IP_OK, "2001:db8::1:0:0:1"},
        {"fe80::1", NAMES_IP_OK, "fe80::1"},
        {"feff::1", NAMES_IP_OK, "feff::1"},
        {"64:ff9b::198.18.0.1", NAMES_IP_OK, "64:ff9b::c612:1"},
        {"::fffe:198.18.0.1", NAMES_IP_OK, "::fffe:c612:1"},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

static void
host_ip_invalid_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"", NAMES_IP_INVALID, ""},
        {"no-ip", NAMES_IP_INVALID, ""},
        {"127.1", NAMES_IP_INVALID, ""},
        {"2130706433", NAMES_IP_INVALID, ""},
        {"1.2.3.4.5", NAMES_IP_INVALID, ""},
        {"01.2.3.4", NAMES_IP_INVALID, ""},
        {"256.0.0.1", NAMES_IP_INVALID, ""},
        {" 192.0.2.10", NAMES_IP_INVALID, ""},
        {"192.0.2.10 ", NAMES_IP_INVALID, ""},
        {"192.0.2.10/32", NAMES_IP_INVALID, ""},
        {"[::1]", NAMES_IP_INVALID, ""},
        {"fe80::1%eth0", NAMES_IP_INVALID, ""},
        {"2001:db8::10::1", NAMES_IP_INVALID, ""},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

static void
host_ip_unspecified_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"0.0.0.0", NAMES_IP_UNSPECIFIED, ""},
        {"0.0.0.1", NAMES_IP_UNSPECIFIED, ""},
        {"0.255.255.255", NAMES_IP_UNSPECIFIED, ""},
        {"::", NAMES_IP_UNSPECIFIED, ""},
        {"0:0:0:0:0:0:0:0", NAMES_IP_UNSPECIFIED, ""},
        {"::ffff:0.0.0.0", NAMES_IP_UNSPECIFIED, ""},
        {"::ffff:0.1.2.3", NAMES_IP_UNSPECIFIED, ""},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

static void
host_ip_broadcast_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"255.255.255.255", NAMES_IP_BROADCAST, ""},
        {"::ffff:255.255.255.255", NAMES_IP_BROADCAST, ""},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

static void
host_ip_multicast_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"224.0.0.0", NAMES_IP_MULTICAST, ""},
        {"224.0.0.1", NAMES_IP_MULTICAST, ""},
        {"239.255.255.255", NAMES_IP_MULTICAST, ""},
        {"ff00::", NAMES_IP_MULTICAST, ""},
        {"ff02::1", NAMES_IP_MULTICAST, ""},
        {"FF0E::1:2", NAMES_IP_MULTICAST, ""},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NAMES_IP_MULTICAST, ""},
        {"::ffff:224.0.0.1", NAMES_IP_MULTICAST, ""},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

/* An IPv4-mapped address is rejected, and out receives the IPv4 address
 * to register in its place. */
static void
host_ip_v4_mapped_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"::ffff:198.18.0.1", NAMES_IP_V4_MAPPED, "198.18.0.1"},
        {"::FFFF:198.18.0.1", NAMES_IP_V4_MAPPED, "198.18.0.1"},
        {"::ffff:c612:1", NAMES_IP_V4_MAPPED, "198.18.0.1"},
        {"0:0:0:0:0:ffff:198.18.0.1", NAMES_IP_V4_MAPPED, "198.18.0.1"},
        {"::ffff:127.0.0.1", NAMES_IP_V4_MAPPED, "127.0.0.1"},
        {"::ffff:255.255.255.254", NAMES_IP_V4_MAPPED, "255.255.255.254"},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

/* The deprecated IPv4-compatible form is rejected like the mapped one.
 * The addresses :: and ::1 are outside it. */
static void
host_ip_v4_compatible_rejected(void **state)
{
    static const struct ip_case cases[] = {
        {"::198.18.0.1", NAMES_IP_V4_COMPATIBLE, "198.18.0.1"},
        {"::c612:1", NAMES_IP_V4_COMPATIBLE, "198.18.0.1"},
        {"0:0:0:0:0:0:10.0.0.5", NAMES_IP_V4_COMPATIBLE, "10.0.0.5"},
        {"::0.0.0.2", NAMES_IP_UNSPECIFIED, ""},
        {"::224.0.0.1", NAMES_IP_MULTICAST, ""},
        {"::255.255.255.255", NAMES_IP_BROADCAST, ""},
        {"::1", NAMES_IP_OK, "::1"},
        {"::", NAMES_IP_UNSPECIFIED, ""},
    };

    (void)state;
    check_ip_cases(cases, CASE_COUNT(cases));
}

/* An out buffer too small for the canonical text gives NAMES_IP_INVALID
 * and an empty string, never a cut address. */
static void
host_ip_small_buffer(void **state)
{
    char out[8];

    (void)state;
    memset(out, 'x', sizeof(out));
    assert_int_equal(names_host_ip_check("2001:db8::10", out, sizeof(out)),
                     NAMES_IP_INVALID);
    assert_string_equal(out, "");
    assert_int_equal(names_host_ip_check("1.2.3.4", out, sizeof(out)),
                     NAMES_IP_OK);
    assert_string_equal(out, "1.2.3.4");
}

/* names_ip_canonical also reads listen addresses, so it keeps accepting
 * the addresses that a certificate may not name. */
static void
ip_canonical_accepts_any_address(void **state)
{
    char out[INET6_ADDRSTRLEN];

    (void)state;
    assert_true(names_ip_canonical("0.0.0.0", out, sizeof(out)));
    assert_string_equal(out, "0.0.0.0");
    assert_true(names_ip_canonical("::", out, sizeof(out)));
    assert_string_equal(out, "::");
    assert_true(names_ip_canonical("2001:DB8:0:0::10", out, sizeof(out)));
    assert_string_equal(out, "2001:db8::10");
    assert_true(names_ip_canonical("::ffff:198.18.0.1", out, sizeof(out)));
    assert_string_equal(out, "::ffff:198.18.0.1");
    assert_false(names_ip_canonical("no-ip", out, sizeof(out)));
    assert_false(names_ip_canonical("127.1", out, sizeof(out)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_name_rules),
        cmocka_unit_test(dns_name_accepted),
        cmocka_unit_test(dns_name_syntax_rejected),
        cmocka_unit_test(dns_name_label_limits),
        cmocka_unit_test(dns_name_ip_address_rejected),
        cmocka_unit_test(dns_name_numeric_tld_rejected),
        cmocka_unit_test(host_ip_accepted_canonical),
        cmocka_unit_test(host_ip_invalid_rejected),
        cmocka_unit_test(host_ip_unspecified_rejected),
        cmocka_unit_test(host_ip_broadcast_rejected),
        cmocka_unit_test(host_ip_multicast_rejected),
        cmocka_unit_test(host_ip_v4_mapped_rejected),
        cmocka_unit_test(host_ip_v4_compatible_rejected),
        cmocka_unit_test(host_ip_small_buffer),
        cmocka_unit_test(ip_canonical_accepts_any_address),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
