/* The conformance vectors (tests/conformance/vectors.json) against the C API.
 *
 * The vectors reach C through conformance_vectors.h, which the build
 * generates from vectors.json with flatten_vectors.py (C has no JSON parser
 * to spare): the same file the C++ and Python runners read, at build time.
 *
 * The C API works on the process-wide registry, and the environment layer is
 * read when a switch is defined, so each layer-stack vector runs in a fresh
 * child process (this program re-executed with --stack N) whose environment
 * is the parent's minus every DEGRADE_* variable plus the vector's. Name,
 * value and snapshot vectors run in the parent. One junit case per vector. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "c_test_report.h"
#include "conformance_vectors.h"
#include "degrade_c.h"

extern char** environ;

static const char* str(const char* s) { return s != NULL ? s : "(null)"; }

static int contains(const char* haystack, const char* needle) {
  return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

static void case_name(char* out, size_t size, const char* section, const char* name) {
  snprintf(out, size, "%s.%s", section, name);
}

/* ---------------------------------------------------------- in the parent */

static void run_env_names(void) {
  const struct cv_env_name* v;
  for (v = cv_env_names; v->name != NULL; ++v) {
    char name[160];
    char* var = NULL;
    char* err = NULL;
    const int rc = v->is_group ? degrade_env_var_for_group(v->input, &var, &err)
                               : degrade_env_var_for_switch(v->input, &var, &err);
    case_name(name, sizeof(name), "env_names", v->name);
    if (v->error != NULL) {
      report_check(name, rc == DEGRADE_INVALID_ARGUMENT && contains(err, v->error),
                   "want error containing '%s', got rc %d: %s", v->error, rc, str(err));
    } else {
      report_check(name, rc == DEGRADE_OK && var != NULL && strcmp(var, v->env_var) == 0,
                   "want %s, got rc %d: %s %s", v->env_var, rc, str(var), str(err));
    }
    degrade_free(var);
    degrade_free(err);
  }
}

static void run_env_values(void) {
  const struct cv_env_value* v;
  for (v = cv_env_values; v->name != NULL; ++v) {
    char name[160];
    char* err = NULL;
    uint8_t on = 0;
    double allow = -1;
    const int rc = degrade_parse_env_value(v->var, v->value, &on, &allow, &err);
    case_name(name, sizeof(name), "env_values", v->name);
    if (v->error != NULL) {
      report_check(name, rc == DEGRADE_INVALID_ARGUMENT && contains(err, v->error),
                   "want error containing '%s', got rc %d: %s", v->error, rc, str(err));
    } else {
      report_check(name, rc == DEGRADE_OK && on == v->on && near(allow, v->allow),
                   "want on=%d allow=%g, got rc %d on=%d allow=%g %s", v->on, v->allow, rc, on,
                   allow, str(err));
    }
    degrade_free(err);
  }
}

static void run_snapshots(void) {
  const struct cv_snapshot* v;
  for (v = cv_snapshots; v->name != NULL; ++v) {
    char name[160];
    char* err = NULL;
    const int rc = degrade_snapshot_check(v->text, "vector", NULL, &err);
    case_name(name, sizeof(name), "snapshots", v->name);
    if (v->error != NULL) {
      report_check(name, rc == DEGRADE_INVALID_ARGUMENT && contains(err, v->error),
                   "want error containing '%s', got rc %d: %s", v->error, rc, str(err));
    } else {
      report_check(name, rc == DEGRADE_OK, "want ok, got rc %d: %s", rc, str(err));
    }
    degrade_free(err);
  }
}

/* ----------------------------------------------------- in a child process */

/* Runs stack vector `index` on this process's registry; prints every
 * mismatch to stdout; returns the exit status (0 = conforms). */
static int run_stack_child(size_t index) {
  const struct cv_stack* v = &cv_stacks[index];
  int problems = 0;
  size_t i;
  for (i = 0; i < v->n_switches; ++i) {
    const struct cv_switch* s = &v->switches[i];
    degrade_switch_t* sw = NULL;
    char* err = NULL;
    const int rc = degrade_switch_define(s->name, "conformance", NULL, s->groups,
                                         (uint8_t)s->default_on, s->default_allow, &sw, &err);
    if (s->error != NULL && (rc == DEGRADE_OK || !contains(err, s->error))) {
      printf("define %s: want error containing '%s', got rc %d: %s\n", s->name, s->error, rc,
             str(err));
      ++problems;
    } else if (s->error == NULL && rc != DEGRADE_OK) {
      printf("define %s: rc %d: %s\n", s->name, rc, str(err));
      ++problems;
    }
    degrade_free(err);
  }
  for (i = 0; i < v->n_apply; ++i) {
    const struct cv_apply* a = &v->apply[i];
    char* err = NULL;
    const int rc = degrade_apply_snapshot(a->layer, a->text, "vector", &err);
    if (a->error != NULL && (rc != DEGRADE_INVALID_ARGUMENT || !contains(err, a->error))) {
      printf("step %lu (%s): want error containing '%s', got rc %d: %s\n", (unsigned long)i + 1,
             a->layer, a->error, rc, str(err));
      ++problems;
    } else if (a->error == NULL && rc != DEGRADE_OK) {
      printf("step %lu (%s): rc %d: %s\n", (unsigned long)i + 1, a->layer, rc, str(err));
      ++problems;
    }
    degrade_free(err);
  }
  for (i = 0; i < v->n_expect; ++i) {
    const struct cv_expect* want = &v->expect[i];
    degrade_switch_t* sw = NULL;
    degrade_state_t got;
    char* err = NULL;
    if (degrade_switch_find(want->name, &sw, &err) != DEGRADE_OK ||
        degrade_switch_state(sw, &got, &err) != DEGRADE_OK) {
      printf("%s: %s\n", want->name, str(err));
      degrade_free(err);
      ++problems;
      continue;
    }
    if (got.on != want->on || !near(got.allow, want->allow) || got.layer != want->layer) {
      printf("%s: want %s allow=%g layer=%s, got %s allow=%g layer=%s\n", want->name,
             want->on ? "on" : "off", want->allow, str(degrade_layer_name(want->layer)),
             got.on ? "on" : "off", got.allow, str(degrade_layer_name(got.layer)));
      ++problems;
    }
    if (want->fault_kind >= 0 &&
        (got.fault_kind != want->fault_kind ||
         (want->fault_kind != DEGRADE_FAULT_NONE &&
          (!near(got.fault_rate, want->fault_rate) ||
           got.fault_delay_ms != want->fault_delay_ms)))) {
      printf("%s: want fault kind=%d rate=%g delay_ms=%u, got kind=%d rate=%g delay_ms=%u\n",
             want->name, want->fault_kind, want->fault_rate, want->fault_delay_ms, got.fault_kind,
             got.fault_rate, got.fault_delay_ms);
      ++problems;
    }
    if (want->fault_layer != -2 && got.fault_layer != want->fault_layer) {
      printf("%s: want fault_layer %d, got %d\n", want->name, want->fault_layer, got.fault_layer);
      ++problems;
    }
  }
  fflush(stdout);
  return problems == 0 ? 0 : 1;
}

/* The child's environment: ours without DEGRADE_*, plus the vector's. */
static char** child_environment(const struct cv_stack* v) {
  size_t n = 0, k = 0, i;
  char** env;
  for (i = 0; environ[i] != NULL; ++i) ++n;
  for (i = 0; v->env[i] != NULL; ++i) ++n;
  env = (char**)malloc((n + 1) * sizeof(char*));
  if (env == NULL) return NULL;
  for (i = 0; environ[i] != NULL; ++i) {
    if (strncmp(environ[i], "DEGRADE_", 8) != 0) env[k++] = environ[i];
  }
  for (i = 0; v->env[i] != NULL; ++i) env[k++] = (char*)v->env[i];
  env[k] = NULL;
  return env;
}

static void run_stack_in_child(size_t index) {
  const struct cv_stack* v = &cv_stacks[index];
  char name[160];
  char output[4096];
  size_t used = 0;
  int fds[2];
  int status = 0;
  pid_t pid;
  char** env = child_environment(v);
  case_name(name, sizeof(name), "stacks", v->name);
  if (env == NULL || pipe(fds) != 0) {
    report_check(name, 0, "cannot set up a child: %s", strerror(errno));
    free(env);
    return;
  }
  pid = fork();
  if (pid == 0) {
    char arg[32];
    char* argv[4];
    snprintf(arg, sizeof(arg), "%lu", (unsigned long)index);
    argv[0] = (char*)"conformance_c";
    argv[1] = (char*)"--stack";
    argv[2] = arg;
    argv[3] = NULL;
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execve("/proc/self/exe", argv, env);
    _exit(127);
  }
  close(fds[1]);
  for (;;) {
    const ssize_t got = read(fds[0], output + used, sizeof(output) - 1 - used);
    if (got > 0) {
      used += (size_t)got;
      if (used == sizeof(output) - 1) used = 0; /* keep the tail of a flood */
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  output[used] = '\0';
  free(env);
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    report_check(name, 0, "cannot run a child: %s", strerror(errno));
    return;
  }
  report_check(name, WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s%s", output,
               WIFEXITED(status) ? "" : " (child crashed)");
}

int main(int argc, char** argv) {
  size_t i;
  if (argc == 3 && strcmp(argv[1], "--stack") == 0) {
    return run_stack_child((size_t)strtoul(argv[2], NULL, 10));
  }
  report_begin("ConformanceC");
  run_env_names();
  run_env_values();
  run_snapshots();
  for (i = 0; cv_stacks[i].name != NULL; ++i) run_stack_in_child(i);
  return report_end();
}
