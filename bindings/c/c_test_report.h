/* c_test_report.h: per-check results for the C test programs (c_api_test,
 * conformance_c). Each check prints one PASS/FAIL line; report_end() prints
 * "N passed, N failed", writes the checks as gtest-style junit XML to
 * $DEGRADE_TEST_XML (one <testcase> per check, which
 * scripts/summarize_tests.py counts) and returns the exit status.
 * Header-only, C99. Not installed. */
#ifndef DEGRADE_C_TEST_REPORT_H_
#define DEGRADE_C_TEST_REPORT_H_

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct report_case {
  char name[160];
  int failed;
  char* message; /* malloc'd, or NULL */
};

static struct {
  const char* suite;
  char xml_path[4096]; /* $DEGRADE_TEST_XML, read by report_begin */
  struct report_case* cases;
  size_t count;
  size_t capacity;
  int failed;
} g_report;

/* Call first: it reads $DEGRADE_TEST_XML (before a test scrubs DEGRADE_*). */
static inline void report_begin(const char* suite) {
  const char* path = getenv("DEGRADE_TEST_XML");
  memset(&g_report, 0, sizeof(g_report));
  g_report.suite = suite;
  if (path != NULL) snprintf(g_report.xml_path, sizeof(g_report.xml_path), "%s", path);
}

/* Records one check. `fmt` (printf-style) explains a failure; it is
 * formatted only when ok is 0. */
static inline int report_check(const char* name, int ok, const char* fmt, ...) {
  struct report_case* c;
  if (g_report.count == g_report.capacity) {
    size_t capacity = g_report.capacity == 0 ? 64 : g_report.capacity * 2;
    struct report_case* grown =
        (struct report_case*)realloc(g_report.cases, capacity * sizeof(*grown));
    if (grown == NULL) {
      fprintf(stderr, "report: out of memory\n");
      exit(2);
    }
    g_report.cases = grown;
    g_report.capacity = capacity;
  }
  c = &g_report.cases[g_report.count++];
  snprintf(c->name, sizeof(c->name), "%s", name);
  c->failed = !ok;
  c->message = NULL;
  if (ok) {
    printf("PASS %s\n", name);
  } else {
    char buffer[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buffer, sizeof(buffer), fmt, args);
    va_end(args);
    c->message = (char*)malloc(strlen(buffer) + 1);
    if (c->message != NULL) strcpy(c->message, buffer);
    printf("FAIL %s: %s\n", name, buffer);
    ++g_report.failed;
  }
  fflush(stdout);
  return ok;
}

static inline void report_xml_text(FILE* f, const char* s) {
  for (; *s != '\0'; ++s) {
    switch (*s) {
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '&': fputs("&amp;", f); break;
      case '"': fputs("&quot;", f); break;
      case '\n': fputs("&#10;", f); break;
      default:
        /* Control characters are not allowed in XML 1.0. */
        if ((unsigned char)*s < 0x20 && *s != '\t') {
          fputc('?', f);
        } else {
          fputc(*s, f);
        }
    }
  }
}

static inline int report_end(void) {
  const char* path = g_report.xml_path;
  size_t i;
  const size_t passed = g_report.count - (size_t)g_report.failed;
  if (path[0] != '\0') {
    FILE* f;
    /* The results directory may not exist yet in a fresh build directory
     * (gtest creates its own; this report must too). One level is enough:
     * the build directory itself exists. */
    char dir[sizeof g_report.xml_path];
    char* slash;
    strcpy(dir, path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
      *slash = '\0';
      mkdir(dir, 0777); /* EEXIST is fine; any other failure shows at fopen */
    }
    f = fopen(path, "w");
    if (f == NULL) {
      fprintf(stderr, "report: cannot write %s\n", path);
      ++g_report.failed;
    } else {
      fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
      fprintf(f, "<testsuites tests=\"%lu\" failures=\"%d\" errors=\"0\" name=\"AllTests\">\n",
              (unsigned long)g_report.count, g_report.failed);
      fprintf(f, "  <testsuite name=\"%s\" tests=\"%lu\" failures=\"%d\" errors=\"0\">\n",
              g_report.suite, (unsigned long)g_report.count, g_report.failed);
      for (i = 0; i < g_report.count; ++i) {
        const struct report_case* c = &g_report.cases[i];
        fprintf(f, "    <testcase name=\"");
        report_xml_text(f, c->name);
        fprintf(f, "\" status=\"run\" result=\"completed\" classname=\"%s\"", g_report.suite);
        if (c->failed) {
          fprintf(f, ">\n      <failure message=\"");
          report_xml_text(f, c->message != NULL ? c->message : "failed");
          fprintf(f, "\" type=\"\"/>\n    </testcase>\n");
        } else {
          fprintf(f, "/>\n");
        }
      }
      fprintf(f, "  </testsuite>\n</testsuites>\n");
      if (fclose(f) != 0) ++g_report.failed;
    }
  }
  printf("%lu passed, %d failed\n", (unsigned long)passed, g_report.failed);
  for (i = 0; i < g_report.count; ++i) free(g_report.cases[i].message);
  free(g_report.cases);
  return g_report.failed == 0 && g_report.count > 0 ? 0 : 1;
}

#endif /* DEGRADE_C_TEST_REPORT_H_ */
