/* A C program with one switch and a fallback.
 *
 *   ./degrade_c_example                 -> recommendations: personalized (3 items)
 *   DEGRADE_RECOMMENDATIONS=off ./degrade_c_example
 *                                       -> recommendations: fallback (bestsellers)
 *
 * With DEGRADE_CONFIG_FILE, DEGRADE_ADMIN_ADDR, ... set, the runtime started
 * below also follows a config file, a remote source or the admin endpoint.
 * Installed, the header is <degrade/degrade_c.h> (pkg-config: degrade_c).
 */
#include <stdio.h>

#include "degrade_c.h"

struct page {
  const char* recs;
  int items;
};

/* The dependency: would call the recommendations service. 0 = success. */
static int fetch_recommendations(void* arg) {
  struct page* p = (struct page*)arg;
  p->recs = "personalized";
  p->items = 3;
  return 0;
}

/* The degraded path: cheap, local, cannot fail. */
static void bestsellers(void* arg) {
  struct page* p = (struct page*)arg;
  p->recs = "fallback (bestsellers)";
  p->items = 0;
}

int main(void) {
  degrade_switch_t* recs = NULL;
  degrade_runtime_t* runtime = NULL;
  char* err = NULL;
  struct page page = {"none", 0};

  /* Once, at startup: define the switch (reads DEGRADE_RECOMMENDATIONS). */
  if (degrade_switch_define("recommendations",
                            "Personalized recommendations; the page renders without them.",
                            "recs-team", NULL, 1, 1.0, &recs, &err) != DEGRADE_OK ||
      degrade_runtime_from_env(&runtime, &err) != DEGRADE_OK) {
    fprintf(stderr, "degrade: %s\n", err);
    degrade_free(err);
    return 1;
  }

  /* Per request: the switch decides, the fallback keeps the page working. */
  degrade_call(recs, fetch_recommendations, bestsellers, &page);
  printf("recommendations: %s (%d items)\n", page.recs, page.items);

  degrade_runtime_destroy(runtime);
  return 0;
}
