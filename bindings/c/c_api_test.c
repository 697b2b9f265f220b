/* Calls every function of degrade_c.h, with every error path, from C99
 * compiled with -std=c99 -Wall -Werror -pedantic: the header must be C that
 * a strict compiler accepts, and each declaration must match what the
 * library does. One check per behaviour; see c_test_report.h for output.
 *
 * Switch names start with "c." so they cannot meet another test's. The
 * environment's DEGRADE_* variables are removed first: the test sets the
 * ones it needs. */
#define _POSIX_C_SOURCE 200809L

/* First, so that the header is seen to compile alone as C99. */
#include "degrade_c.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c_test_report.h"

extern char** environ;

#define CHECK(name, cond, ...) report_check((name), (cond) ? 1 : 0, __VA_ARGS__)

static const char* str(const char* s) { return s != NULL ? s : "(null)"; }

static int contains(const char* haystack, const char* needle) {
  return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Removes every DEGRADE_* variable (before the registry first reads one). */
static void scrub_environment(void) {
  int again = 1;
  while (again) {
    char** e;
    again = 0;
    for (e = environ; *e != NULL; ++e) {
      if (strncmp(*e, "DEGRADE_", 8) == 0) {
        char name[256];
        const char* eq = strchr(*e, '=');
        size_t n = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
        if (n >= sizeof(name)) n = sizeof(name) - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        unsetenv(name);
        again = 1;
        break;
      }
    }
  }
}

static degrade_switch_t* define_or_die(const char* name, uint8_t on) {
  degrade_switch_t* sw = NULL;
  char* err = NULL;
  if (degrade_switch_define(name, "c api test", NULL, NULL, on, 1.0, &sw, &err) != DEGRADE_OK) {
    fprintf(stderr, "cannot define %s: %s\n", name, str(err));
    exit(2);
  }
  return sw;
}

static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ general */

static void test_general(void) {
  const char* v = degrade_version();
  CHECK("version_is_set", v != NULL && v[0] >= '0' && v[0] <= '9', "version %s", str(v));
  degrade_free(NULL);
  CHECK("free_null_is_noop", 1, "");
  CHECK("layer_name_env", contains(degrade_layer_name(DEGRADE_LAYER_ENV), "env") &&
                              strcmp(degrade_layer_name(DEGRADE_LAYER_ADMIN), "admin") == 0 &&
                              strcmp(degrade_layer_name(DEGRADE_LAYER_GOVERNOR), "governor") == 0,
        "got %s", str(degrade_layer_name(DEGRADE_LAYER_ENV)));
  CHECK("layer_name_out_of_range_is_null",
        degrade_layer_name(-1) == NULL && degrade_layer_name(7) == NULL, "not NULL");
}

/* ----------------------------------------------------------------- switches */

static void test_define(void) {
  const char* groups[] = {"c.tier2", "c.tier3", NULL};
  degrade_switch_t* sw = NULL;
  degrade_switch_t* found = NULL;
  degrade_switch_t* dimmed = NULL;
  char* err = NULL;
  int rc;
  degrade_state_t st;

  rc = degrade_switch_define("c.recs", "Recommendations; the page renders without them.",
                             "recs-team", groups, 1, 1.0, &sw, &err);
  CHECK("define_returns_handle", rc == DEGRADE_OK && sw != NULL && err == NULL, "rc %d: %s", rc,
        str(err));
  CHECK("define_enabled_by_default", sw != NULL && degrade_enabled(sw) == 1, "not enabled");
  CHECK("switch_name", sw != NULL && strcmp(degrade_switch_name(sw), "c.recs") == 0, "name %s",
        sw != NULL ? str(degrade_switch_name(sw)) : "-");
  CHECK("switch_description",
        sw != NULL && contains(degrade_switch_description(sw), "renders without them"),
        "description %s", sw != NULL ? str(degrade_switch_description(sw)) : "-");
  CHECK("switch_name_of_null_is_null",
        degrade_switch_name(NULL) == NULL && degrade_switch_description(NULL) == NULL, "not NULL");

  rc = degrade_switch_define("c.recs", "again", NULL, NULL, 1, 1.0, &found, &err);
  CHECK("define_duplicate_is_already_exists",
        rc == DEGRADE_ALREADY_EXISTS && contains(err, "\"c.recs\" is already defined"),
        "rc %d: %s", rc, str(err));
  CHECK("define_error_leaves_out_alone", found == NULL, "out was written");

  rc = degrade_switch_define("C.Recs", "bad", NULL, NULL, 1, 1.0, &found, &err);
  CHECK("define_bad_name_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "switch name \"C.Recs\""), "rc %d: %s", rc,
        str(err));

  {
    const char* bad_groups[] = {"Tier 2", NULL};
    rc = degrade_switch_define("c.bad-group", "bad", NULL, bad_groups, 1, 1.0, &found, &err);
    CHECK("define_bad_group_is_invalid_argument",
          rc == DEGRADE_INVALID_ARGUMENT && contains(err, "group name \"Tier 2\""), "rc %d: %s",
          rc, str(err));
  }

  rc = degrade_switch_define("config.file", "reserved", NULL, NULL, 1, 1.0, &found, &err);
  CHECK("define_reserved_name_is_already_exists",
        rc == DEGRADE_ALREADY_EXISTS && contains(err, "DEGRADE_CONFIG_FILE"), "rc %d: %s", rc,
        str(err));

  rc = degrade_switch_define("c.bad-allow", "bad", NULL, NULL, 1, 1.5, &found, &err);
  CHECK("define_allow_out_of_range_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "default_allow: 1.5 is not in [0, 1]"),
        "rc %d: %s", rc, str(err));
  rc = degrade_switch_define("c.nan-allow", "bad", NULL, NULL, 1, NAN, &found, &err);
  CHECK("define_allow_nan_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d: %s", rc,
        str(err));

  rc = degrade_switch_define(NULL, "x", NULL, NULL, 1, 1.0, &found, &err);
  CHECK("define_null_name_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "name is NULL"), "rc %d: %s", rc, str(err));
  rc = degrade_switch_define("c.no-out", "x", NULL, NULL, 1, 1.0, NULL, &err);
  CHECK("define_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_switch_define("c.no-errptr", "x", NULL, NULL, 1, 1.0, NULL, NULL);
  CHECK("errors_without_errptr_still_return_the_code", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);

  rc = degrade_switch_define("c.dimmed", "dimmed", NULL, NULL, 1, 0.25, &dimmed, &err);
  CHECK("define_dimmed_default",
        rc == DEGRADE_OK && degrade_switch_state(dimmed, &st, &err) == DEGRADE_OK &&
            st.on == 1 && st.allow == 0.25 && st.layer == DEGRADE_LAYER_DEFAULT,
        "rc %d: %s", rc, str(err));
  rc = degrade_switch_define("c.off-by-default", "off", NULL, NULL, 0, 0.5, &found, &err);
  CHECK("define_off_default_ignores_allow",
        rc == DEGRADE_OK && degrade_enabled(found) == 0, "rc %d: %s", rc, str(err));

  found = NULL;
  rc = degrade_switch_find("c.recs", &found, &err);
  CHECK("find_returns_same_handle", rc == DEGRADE_OK && found == sw, "rc %d: %s", rc, str(err));
  found = NULL;
  rc = degrade_switch_find("c.nope", &found, &err);
  CHECK("find_unknown_is_not_found",
        rc == DEGRADE_NOT_FOUND && found == NULL && contains(err, "\"c.nope\" is not defined"),
        "rc %d: %s", rc, str(err));
  rc = degrade_switch_find(NULL, &found, &err);
  CHECK("find_null_name_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_switch_find("c.recs", NULL, &err);
  CHECK("find_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  degrade_free(err);
}

/* Sticky dimming: "bob" and "carol" on "c.sticky" are pinned in
 * tests/sticky_test.cc at 3971999973 and 2005005700 of 2^32 (about 0.925
 * and 0.467), so these answers are the C++ library's. */
static void test_sticky(void) {
  degrade_switch_t* sw = NULL;
  char* err = NULL;
  int rc = degrade_switch_define("c.sticky", "sticky dimming", NULL, NULL, 1, 0.5, &sw, &err);
  CHECK("sticky_define", rc == DEGRADE_OK && sw != NULL, "rc %d: %s", rc, str(err));
  if (sw == NULL) return;
  CHECK("sticky_half_lets_carol_not_bob",
        degrade_enabled_for(sw, "carol", 5) == 1 && degrade_enabled_for(sw, "bob", 3) == 0,
        "carol %d bob %d", degrade_enabled_for(sw, "carol", 5), degrade_enabled_for(sw, "bob", 3));
  CHECK("sticky_key_is_its_bytes_not_a_c_string",
        degrade_enabled_for(sw, "carolXYZ", 5) == 1 && degrade_enabled_for(sw, "bobby", 3) == 0,
        "prefix lengths not honoured");
  rc = degrade_set_override("c.sticky", 1, 0.95, "grow", NULL, 0, &err);
  CHECK("sticky_bob_in_at_095", rc == DEGRADE_OK && degrade_enabled_for(sw, "bob", 3) == 1 &&
                                    degrade_enabled_for(sw, "carol", 5) == 1,
        "rc %d: %s", rc, str(err));
  rc = degrade_set_override("c.sticky", 0, 1.0, "off", NULL, 0, &err);
  CHECK("sticky_off_is_off_for_every_key",
        rc == DEGRADE_OK && degrade_enabled_for(sw, "carol", 5) == 0 &&
            degrade_enabled_for(sw, NULL, 0) == 0,
        "rc %d: %s", rc, str(err));
}

static void test_env_layer(void) {
  degrade_switch_t* sw = NULL;
  degrade_state_t st;
  char* err = NULL;
  const char* groups[] = {"c.env-group", NULL};
  setenv("DEGRADE_C_ENV_OFF", "off", 1);
  sw = define_or_die("c.env-off", 1);
  CHECK("env_var_read_at_definition",
        degrade_enabled(sw) == 0 && degrade_switch_state(sw, &st, &err) == DEGRADE_OK &&
            st.layer == DEGRADE_LAYER_ENV,
        "enabled %d layer %d", degrade_enabled(sw), st.layer);

  setenv("DEGRADE_GROUP_C_ENV_GROUP", "25%", 1);
  if (degrade_switch_define("c.env-member", "x", NULL, groups, 1, 1.0, &sw, &err) == DEGRADE_OK &&
      degrade_switch_state(sw, &st, &err) == DEGRADE_OK) {
    CHECK("env_group_var_read_at_definition",
          st.on == 1 && st.allow == 0.25 && st.layer == DEGRADE_LAYER_ENV, "on %d allow %g layer %d",
          st.on, st.allow, st.layer);
  } else {
    CHECK("env_group_var_read_at_definition", 0, "%s", str(err));
  }

  setenv("DEGRADE_C_ENV_TYPO", "of", 1);
  sw = define_or_die("c.env-typo", 1);
  CHECK("env_invalid_value_keeps_default",
        degrade_enabled(sw) == 1 && degrade_switch_state(sw, &st, &err) == DEGRADE_OK &&
            st.layer == DEGRADE_LAYER_DEFAULT,
        "layer %d", st.layer);
  unsetenv("DEGRADE_C_ENV_OFF");
  unsetenv("DEGRADE_GROUP_C_ENV_GROUP");
  unsetenv("DEGRADE_C_ENV_TYPO");
  degrade_free(err);
}

static void test_env_helpers(void) {
  char* var = NULL;
  char* err = NULL;
  uint8_t on = 9;
  double allow = -1;
  int rc;

  rc = degrade_env_var_for_switch("search.suggest-v2", &var, &err);
  CHECK("env_var_for_switch",
        rc == DEGRADE_OK && var != NULL && strcmp(var, "DEGRADE_SEARCH_SUGGEST_V2") == 0, "%s",
        str(var));
  degrade_free(var);
  var = NULL;
  rc = degrade_env_var_for_switch("Bad", &var, &err);
  CHECK("env_var_for_bad_switch_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && var == NULL && contains(err, "names are lower case"),
        "rc %d: %s", rc, str(err));
  rc = degrade_env_var_for_switch(NULL, &var, &err);
  CHECK("env_var_for_null_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_env_var_for_switch("recs", NULL, &err);
  CHECK("env_var_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);

  rc = degrade_env_var_for_group("tier2", &var, &err);
  CHECK("env_var_for_group",
        rc == DEGRADE_OK && var != NULL && strcmp(var, "DEGRADE_GROUP_TIER2") == 0, "%s", str(var));
  degrade_free(var);
  var = NULL;
  rc = degrade_env_var_for_group("Tier2", &var, &err);
  CHECK("env_var_for_bad_group_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "group name \"Tier2\""), "rc %d: %s", rc,
        str(err));
  rc = degrade_env_var_for_group(NULL, &var, &err);
  CHECK("env_var_for_null_group_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);

  rc = degrade_parse_env_value("DEGRADE_X", "25%", &on, &allow, &err);
  CHECK("parse_env_value_percentage", rc == DEGRADE_OK && on == 1 && allow == 0.25,
        "rc %d on %d allow %g", rc, on, allow);
  rc = degrade_parse_env_value("DEGRADE_X", "OFF", &on, &allow, &err);
  CHECK("parse_env_value_off", rc == DEGRADE_OK && on == 0 && allow == 1.0, "rc %d on %d", rc, on);
  on = 7;
  rc = degrade_parse_env_value("DEGRADE_X", "of", &on, &allow, &err);
  CHECK("parse_env_value_typo_names_variable_and_value",
        rc == DEGRADE_INVALID_ARGUMENT && on == 7 &&
            contains(err, "DEGRADE_X: \"of\" is not a switch state; accepted:"),
        "rc %d: %s", rc, str(err));
  rc = degrade_parse_env_value(NULL, "maybe", &on, &allow, &err);
  CHECK("parse_env_value_null_var_is_named_value",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "value: \"maybe\""), "rc %d: %s", rc,
        str(err));
  rc = degrade_parse_env_value("V", NULL, &on, &allow, &err);
  CHECK("parse_env_value_null_value_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  rc = degrade_parse_env_value("V", "on", NULL, &allow, &err);
  CHECK("parse_env_value_null_on_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  rc = degrade_parse_env_value("V", "on", &on, NULL, &err);
  CHECK("parse_env_value_null_allow_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  degrade_free(err);
}

/* ------------------------------------------------------------ admin layer */

static void test_overrides(void) {
  degrade_switch_t* sw = define_or_die("c.override", 1);
  degrade_state_t st;
  char* err = NULL;
  char* json = NULL;
  int rc;

  rc = degrade_set_override("c.override", 0, 1.0, "INC-1 vendor down", "oncall", 0, &err);
  CHECK("set_override_off",
        rc == DEGRADE_OK && degrade_enabled(sw) == 0 &&
            degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.layer == DEGRADE_LAYER_ADMIN,
        "rc %d: %s", rc, str(err));
  rc = degrade_get_json("c.override", &json, &err);
  CHECK("override_reason_and_actor_listed",
        rc == DEGRADE_OK && contains(json, "\"reason\":\"INC-1 vendor down\"") &&
            contains(json, "\"actor\":\"oncall\""),
        "%s", str(json));
  degrade_free(json);
  json = NULL;

  rc = degrade_set_override("c.override", 1, 0.5, NULL, NULL, 3600, &err);
  CHECK("set_override_dimmer_with_ttl",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.on == 1 &&
            st.allow == 0.5 && st.layer == DEGRADE_LAYER_ADMIN,
        "rc %d: %s", rc, str(err));
  rc = degrade_get_json("c.override", &json, &err);
  CHECK("override_ttl_sets_expiry", rc == DEGRADE_OK && !contains(json, "\"expires_at\":null"),
        "%s", str(json));
  degrade_free(json);
  json = NULL;

  rc = degrade_set_override("c.override", 1, 1.5, NULL, NULL, 0, &err);
  CHECK("set_override_allow_out_of_range_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "allow: 1.5 is not in [0, 1]"),
        "rc %d: %s", rc, str(err));
  CHECK("failed_override_changes_nothing",
        degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.allow == 0.5, "allow %g",
        st.allow);
  rc = degrade_set_override("c.override", 1, NAN, NULL, NULL, 0, &err);
  CHECK("set_override_allow_nan_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d: %s",
        rc, str(err));
  rc = degrade_set_override("c.override", 0, 1.0, NULL, NULL, -5, &err);
  CHECK("set_override_negative_ttl_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "ttl_s -5"), "rc %d: %s", rc, str(err));
  rc = degrade_set_override("c.override", 0, 1.0, NULL, NULL, INFINITY, &err);
  CHECK("set_override_infinite_ttl_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT,
        "rc %d: %s", rc, str(err));
  rc = degrade_set_override("c.unknown", 0, 1.0, NULL, NULL, 0, &err);
  CHECK("set_override_unknown_is_not_found",
        rc == DEGRADE_NOT_FOUND && contains(err, "\"c.unknown\" is not defined"), "rc %d: %s", rc,
        str(err));
  rc = degrade_set_override(NULL, 0, 1.0, NULL, NULL, 0, &err);
  CHECK("set_override_null_name_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);

  rc = degrade_clear_override("c.override", &err);
  CHECK("clear_override_restores_lower_layers",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.on == 1 &&
            st.allow == 1.0 && st.layer == DEGRADE_LAYER_DEFAULT,
        "rc %d: %s", rc, str(err));
  rc = degrade_clear_override("c.override", &err);
  CHECK("clear_override_without_one_is_ok", rc == DEGRADE_OK, "rc %d: %s", rc, str(err));
  rc = degrade_clear_override("c.unknown", &err);
  CHECK("clear_override_unknown_is_not_found", rc == DEGRADE_NOT_FOUND, "rc %d: %s", rc, str(err));
  rc = degrade_clear_override(NULL, &err);
  CHECK("clear_override_null_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  degrade_free(err);
}

static void test_faults(void) {
  degrade_switch_t* sw = define_or_die("c.fault", 1);
  degrade_state_t st;
  char* err = NULL;
  int rc;

  rc = degrade_set_override("c.fault", 0, 1.0, "incident", "oncall", 0, &err);
  rc = rc == DEGRADE_OK ? degrade_set_fault("c.fault", "error", 0.5, 0, NULL, NULL, 0, &err) : rc;
  CHECK("set_fault_keeps_admin_state",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.on == 0 &&
            st.layer == DEGRADE_LAYER_ADMIN && st.fault_kind == DEGRADE_FAULT_NONE,
        "rc %d on %d layer %d kind %d: %s", rc, st.on, st.layer, st.fault_kind, str(err));
  (void)degrade_clear_override("c.fault", &err);

  rc = degrade_set_fault("c.fault", "delay", 0.25, 200, "drill", "gameday", 0, &err);
  CHECK("set_fault_delay",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.on == 1 &&
            st.layer == DEGRADE_LAYER_DEFAULT && st.fault_kind == DEGRADE_FAULT_DELAY &&
            st.fault_rate == 0.25 && st.fault_delay_ms == 200 &&
            st.fault_layer == DEGRADE_LAYER_ADMIN,
        "rc %d kind %d rate %g delay %u layer %d: %s", rc, st.fault_kind, st.fault_rate,
        st.fault_delay_ms, st.fault_layer, str(err));

  rc = degrade_set_fault("c.fault", "off", 0, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_off_hides_faults",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK &&
            st.fault_kind == DEGRADE_FAULT_NONE && st.fault_layer == -1,
        "rc %d kind %d fault_layer %d", rc, st.fault_kind, st.fault_layer);

  rc = degrade_set_fault("c.fault", NULL, 0, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_null_removes_fault_only_entry",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK &&
            st.fault_kind == DEGRADE_FAULT_NONE && st.layer == DEGRADE_LAYER_DEFAULT,
        "rc %d", rc);

  rc = degrade_set_fault("c.fault", "boom", 1, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_bad_kind_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "kind \"boom\""), "rc %d: %s", rc,
        str(err));
  rc = degrade_set_fault("c.fault", "error", 2.0, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_rate_out_of_range_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "rate: 2 is not in [0, 1]"), "rc %d: %s",
        rc, str(err));
  rc = degrade_set_fault("c.fault", "delay", 1, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_delay_without_delay_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT,
        "rc %d: %s", rc, str(err));
  rc = degrade_set_fault("c.fault", "error", 1, 0, NULL, NULL, -1, &err);
  CHECK("set_fault_negative_ttl_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_set_fault("c.unknown", "error", 1, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_unknown_is_not_found", rc == DEGRADE_NOT_FOUND, "rc %d: %s", rc, str(err));
  rc = degrade_set_fault(NULL, "error", 1, 0, NULL, NULL, 0, &err);
  CHECK("set_fault_null_name_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  (void)degrade_clear_override("c.fault", &err);
  degrade_free(err);
}

/* -------------------------------------------------------------------- call */

struct call_log {
  int primary_runs;
  int fallback_runs;
  int primary_result;
};

static int primary(void* arg) {
  struct call_log* log = (struct call_log*)arg;
  ++log->primary_runs;
  return log->primary_result;
}

static void fallback(void* arg) { ++((struct call_log*)arg)->fallback_runs; }

static void test_call_and_counters(void) {
  degrade_switch_t* sw = define_or_die("c.call", 1);
  struct call_log log = {0, 0, 0};
  degrade_counters_t c;
  char* err = NULL;
  uint8_t ran;
  int rc;
  double start;

  ran = degrade_call(sw, primary, fallback, &log);
  CHECK("call_on_runs_primary", ran == 1 && log.primary_runs == 1 && log.fallback_runs == 0,
        "ran %d primary %d fallback %d", ran, log.primary_runs, log.fallback_runs);

  log.primary_result = -1;
  ran = degrade_call(sw, primary, fallback, &log);
  CHECK("call_failing_primary_runs_fallback",
        ran == 0 && log.primary_runs == 2 && log.fallback_runs == 1, "ran %d fallback %d", ran,
        log.fallback_runs);
  log.primary_result = 0;

  (void)degrade_set_override("c.call", 0, 1.0, NULL, NULL, 0, &err);
  ran = degrade_call(sw, primary, fallback, &log);
  CHECK("call_off_skips_primary", ran == 0 && log.primary_runs == 2 && log.fallback_runs == 2,
        "ran %d primary %d", ran, log.primary_runs);

  (void)degrade_set_override("c.call", 1, 1.0, NULL, NULL, 0, &err);
  (void)degrade_set_fault("c.call", "error", 1.0, 0, NULL, NULL, 0, &err);
  ran = degrade_call(sw, primary, fallback, &log);
  CHECK("call_error_fault_runs_fallback",
        ran == 0 && log.primary_runs == 2 && log.fallback_runs == 3, "ran %d primary %d", ran,
        log.primary_runs);

  (void)degrade_set_fault("c.call", "delay", 1.0, 30, NULL, NULL, 0, &err);
  start = monotonic_ms();
  ran = degrade_call(sw, primary, fallback, &log);
  CHECK("call_delay_fault_delays_then_runs_primary",
        ran == 1 && log.primary_runs == 3 && monotonic_ms() - start >= 29.0, "ran %d after %.1f ms",
        ran, monotonic_ms() - start);
  (void)degrade_clear_override("c.call", &err);

  rc = degrade_switch_counters(sw, &c, &err);
  CHECK("counters_count_every_outcome",
        rc == DEGRADE_OK && c.calls == 5 && c.primary_ok == 2 && c.primary_failures == 1 &&
            c.skipped == 1 && c.injected_faults == 2 && c.fallbacks == 3,
        "rc %d calls %lu ok %lu failures %lu skipped %lu faults %lu fallbacks %lu", rc,
        (unsigned long)c.calls, (unsigned long)c.primary_ok, (unsigned long)c.primary_failures,
        (unsigned long)c.skipped, (unsigned long)c.injected_faults, (unsigned long)c.fallbacks);
  rc = degrade_switch_counters(NULL, &c, &err);
  CHECK("counters_null_switch_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_switch_counters(sw, NULL, &err);
  CHECK("counters_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  {
    degrade_state_t st;
    rc = degrade_switch_state(NULL, &st, &err);
    CHECK("state_null_switch_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
    rc = degrade_switch_state(sw, NULL, &err);
    CHECK("state_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  }
  degrade_free(err);
}

/* --------------------------------------------------------------- snapshots */

static void test_snapshots(void) {
  degrade_switch_t* sw = define_or_die("c.snap", 1);
  degrade_state_t st;
  char* err = NULL;
  char* normalized = NULL;
  int rc;

  rc = degrade_apply_snapshot("remote", "{\"switches\": {\"c.snap\": {\"allow\": 0.25}}}", "test",
                              &err);
  CHECK("apply_snapshot_remote",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.allow == 0.25 &&
            st.layer == DEGRADE_LAYER_REMOTE,
        "rc %d: %s", rc, str(err));

  rc = degrade_apply_snapshot("remote", "{\"switches\": {\"c.snap\": {\"allow\": 1.5}}}", "test",
                              &err);
  CHECK("apply_snapshot_bad_value_names_the_path",
        rc == DEGRADE_INVALID_ARGUMENT &&
            contains(err, "test: switches.\"c.snap\".allow: 1.5 is not in [0, 1]"),
        "rc %d: %s", rc, str(err));
  CHECK("bad_snapshot_keeps_last_good",
        degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.allow == 0.25, "allow %g",
        st.allow);

  rc = degrade_apply_snapshot("file", "{\"switches\": {", NULL, &err);
  CHECK("apply_snapshot_bad_json_says_where",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "file: invalid JSON") &&
            contains(err, "line 1"),
        "rc %d: %s", rc, str(err));
  rc = degrade_apply_snapshot("file", "{\"all\": \"off\", \"all\": \"on\"}", "test", &err);
  CHECK("apply_snapshot_duplicate_key_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT &&
            contains(err, "test: duplicate key \"all\"; each key may appear once"),
        "rc %d: %s", rc, str(err));
  CHECK("duplicate_key_keeps_last_good",
        degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.allow == 0.25, "allow %g",
        st.allow);
  rc = degrade_apply_snapshot("disk", "{}", NULL, &err);
  CHECK("apply_snapshot_unknown_layer_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "layer \"disk\" is not a layer"),
        "rc %d: %s", rc, str(err));
  rc = degrade_apply_snapshot("env", "{}", NULL, &err);
  CHECK("apply_snapshot_env_layer_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "cannot be set by a snapshot"), "rc %d: %s",
        rc, str(err));
  rc = degrade_apply_snapshot("breaker", "{\"switches\": {\"c.snap\": \"on\"}}", NULL, &err);
  CHECK("apply_snapshot_breaker_only_off",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "may only turn a switch off"), "rc %d: %s",
        rc, str(err));
  rc = degrade_apply_snapshot(NULL, "{}", NULL, &err);
  CHECK("apply_snapshot_null_layer_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  rc = degrade_apply_snapshot("file", NULL, NULL, &err);
  CHECK("apply_snapshot_null_json_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  rc = degrade_apply_snapshot("remote", "{}", NULL, &err);
  CHECK("apply_empty_snapshot_clears_layer",
        rc == DEGRADE_OK && degrade_switch_state(sw, &st, &err) == DEGRADE_OK &&
            st.layer == DEGRADE_LAYER_DEFAULT,
        "rc %d", rc);

  rc = degrade_snapshot_check("{\"all\": \"off\", \"switches\": {\"b\": \"on\", \"a\": \"off\"}}",
                              NULL, &normalized, &err);
  CHECK("snapshot_check_normalizes",
        rc == DEGRADE_OK && normalized != NULL &&
            strcmp(normalized, "{\"all\":\"off\",\"switches\":{\"a\":\"off\",\"b\":\"on\"}}") == 0,
        "rc %d: %s", rc, str(normalized));
  degrade_free(normalized);
  rc = degrade_snapshot_check("{}", NULL, NULL, &err);
  CHECK("snapshot_check_without_output", rc == DEGRADE_OK, "rc %d", rc);
  normalized = NULL;
  rc = degrade_snapshot_check("{\"groups\": {\"t\": {\"fault\": {\"kind\": \"x\"}}}}", "cfg.json",
                              &normalized, &err);
  CHECK("snapshot_check_error_names_source_and_path",
        rc == DEGRADE_INVALID_ARGUMENT && normalized == NULL &&
            contains(err, "cfg.json: groups.t.fault.kind: \"x\" is not a fault kind"),
        "rc %d: %s", rc, str(err));
  rc = degrade_snapshot_check(NULL, NULL, NULL, &err);
  CHECK("snapshot_check_null_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  degrade_free(err);
}

/* ----------------------------------------------------------------- listing */

static void test_listing(void) {
  char* json = degrade_list_json();
  char* one = NULL;
  char* err = NULL;
  int rc;
  CHECK("list_json_has_every_section",
        contains(json, "\"switches\":[") && contains(json, "\"sources\":") &&
            contains(json, "\"errors\":"),
        "%.200s", str(json));
  CHECK("list_json_has_c_switches", contains(json, "\"name\":\"c.recs\""), "no c.recs");
  degrade_free(json);

  rc = degrade_get_json("c.recs", &one, &err);
  CHECK("get_json_one_switch",
        rc == DEGRADE_OK && contains(one, "\"name\":\"c.recs\"") &&
            contains(one, "\"groups\":[\"c.tier2\",\"c.tier3\"]") &&
            contains(one, "\"owner\":\"recs-team\"") && contains(one, "\"counters\":{"),
        "rc %d: %s", rc, str(one));
  degrade_free(one);
  one = NULL;
  rc = degrade_get_json("c.nope", &one, &err);
  CHECK("get_json_unknown_is_not_found", rc == DEGRADE_NOT_FOUND && one == NULL, "rc %d", rc);
  rc = degrade_get_json(NULL, &one, &err);
  CHECK("get_json_null_name_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_get_json("c.recs", NULL, &err);
  CHECK("get_json_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  degrade_free(err);
}

/* ----------------------------------------------------------- change events */

struct events {
  int count;
  char last[512];
};

static void on_change(void* arg, const char* event_json) {
  struct events* e = (struct events*)arg;
  ++e->count;
  snprintf(e->last, sizeof(e->last), "%s", event_json);
}

static void test_listeners(void) {
  struct events events = {0, ""};
  uint64_t id = 0;
  char* err = NULL;
  int rc;
  (void)define_or_die("c.listen", 1);

  rc = degrade_add_listener(on_change, &events, &id, &err);
  CHECK("add_listener", rc == DEGRADE_OK && id != 0, "rc %d: %s", rc, str(err));
  (void)degrade_set_override("c.listen", 0, 1.0, "why", "who", 0, &err);
  CHECK("listener_gets_change_event_json",
        events.count == 1 && contains(events.last, "\"switch\":\"c.listen\"") &&
            contains(events.last, "\"new\":{\"state\":\"off\"}") &&
            contains(events.last, "\"layer\":\"admin\"") &&
            contains(events.last, "\"reason\":\"why\""),
        "count %d: %s", events.count, events.last);
  (void)degrade_set_override("c.listen", 0, 1.0, "why", "who", 0, &err);
  CHECK("listener_not_called_without_change", events.count == 1, "count %d", events.count);

  degrade_remove_listener(id);
  (void)degrade_clear_override("c.listen", &err);
  CHECK("removed_listener_not_called", events.count == 1, "count %d", events.count);
  degrade_remove_listener(987654321u);
  CHECK("remove_unknown_listener_is_noop", 1, "");

  rc = degrade_add_listener(NULL, NULL, &id, &err);
  CHECK("add_listener_null_fn_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  rc = degrade_add_listener(on_change, NULL, NULL, &err);
  CHECK("add_listener_null_id_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d", rc);
  degrade_free(err);
}

/* ----------------------------------------------------------------- runtime */

static void test_runtime(void) {
  degrade_switch_t* sw = define_or_die("c.from-file", 1);
  degrade_runtime_t* rt = NULL;
  degrade_state_t st;
  char* err = NULL;
  char path[] = "/tmp/degrade_c_api_test_XXXXXX";
  const char* snapshot = "{\"switches\": {\"c.from-file\": \"off\"}}\n";
  int fd = mkstemp(path);
  int rc;
  if (fd < 0 || write(fd, snapshot, strlen(snapshot)) != (ssize_t)strlen(snapshot)) {
    CHECK("runtime_from_env_applies_config_file", 0, "cannot write %s", path);
    return;
  }
  close(fd);

  setenv("DEGRADE_CONFIG_FILE", path, 1);
  rc = degrade_runtime_from_env(&rt, &err);
  CHECK("runtime_from_env_applies_config_file",
        rc == DEGRADE_OK && rt != NULL && degrade_enabled(sw) == 0 &&
            degrade_switch_state(sw, &st, &err) == DEGRADE_OK && st.layer == DEGRADE_LAYER_FILE,
        "rc %d: %s", rc, str(err));
  CHECK("runtime_admin_port_zero_when_off", degrade_runtime_admin_port(rt) == 0, "port %d",
        degrade_runtime_admin_port(rt));
  degrade_runtime_destroy(rt);
  CHECK("runtime_destroy_keeps_states", degrade_enabled(sw) == 0, "enabled");
  degrade_runtime_destroy(NULL);
  CHECK("runtime_destroy_null_is_noop", degrade_runtime_admin_port(NULL) == 0, "");
  unlink(path);

  setenv("DEGRADE_CONFIG_FILE", "", 1);
  rt = NULL;
  rc = degrade_runtime_from_env(&rt, &err);
  CHECK("runtime_from_env_bad_variable_is_invalid_argument",
        rc == DEGRADE_INVALID_ARGUMENT && rt == NULL &&
            contains(err, "DEGRADE_CONFIG_FILE is set but empty"),
        "rc %d: %s", rc, str(err));
  unsetenv("DEGRADE_CONFIG_FILE");
  setenv("DEGRADE_REMOTE_INTERVAL_MS", "soon", 1);
  rc = degrade_runtime_from_env(&rt, &err);
  CHECK("runtime_from_env_names_variable_and_value",
        rc == DEGRADE_INVALID_ARGUMENT && contains(err, "DEGRADE_REMOTE_INTERVAL_MS: \"soon\""),
        "rc %d: %s", rc, str(err));
  unsetenv("DEGRADE_REMOTE_INTERVAL_MS");
  rc = degrade_runtime_from_env(NULL, &err);
  CHECK("runtime_from_env_null_out_is_invalid_argument", rc == DEGRADE_INVALID_ARGUMENT, "rc %d",
        rc);
  (void)degrade_apply_snapshot("file", "{}", NULL, &err);
  degrade_free(err);
}

/* errptr convention: an old message is freed and replaced; success leaves it. */
static void test_errptr_convention(void) {
  char* err = NULL;
  degrade_switch_t* sw = NULL;
  (void)degrade_switch_find("c.first-missing", &sw, &err);
  (void)degrade_switch_find("c.second-missing", &sw, &err);
  CHECK("errptr_replaced_by_latest_error", contains(err, "c.second-missing"), "%s", str(err));
  (void)degrade_switch_find("c.recs", &sw, &err);
  CHECK("errptr_untouched_on_success", contains(err, "c.second-missing"), "%s", str(err));
  degrade_free(err);
}

int main(void) {
  report_begin("CApiTest");
  scrub_environment();
  test_general();
  test_define();
  test_sticky();
  test_env_layer();
  test_env_helpers();
  test_overrides();
  test_faults();
  test_call_and_counters();
  test_snapshots();
  test_listing();
  test_listeners();
  test_runtime();
  test_errptr_convention();
  return report_end();
}
