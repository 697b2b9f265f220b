/* degrade/degrade_c.h: the C API of degrade, over the same process-wide
 * registry as the C++ API (degrade::Registry::Global()).
 *
 *   degrade_switch_t* recs = NULL;
 *   char* err = NULL;
 *   if (degrade_switch_define("recommendations", "Personalized recs; the page "
 *                             "renders without them.", "recs-team", NULL,
 *                             1, 1.0, &recs, &err) != DEGRADE_OK) {
 *     fprintf(stderr, "%s\n", err);
 *     degrade_free(err);
 *     return 1;
 *   }
 *   if (degrade_enabled(recs)) { ...call the recommendations service... }
 *
 * Conventions
 * -----------
 *  1. Every name starts with degrade_ (types end in _t, constants DEGRADE_).
 *     Handles are opaque pointers; booleans are uint8_t (0 false, 1 true).
 *  2. A function that can fail returns an int: DEGRADE_OK (0) on success,
 *     otherwise the absl::StatusCode of the failure (DEGRADE_INVALID_ARGUMENT,
 *     DEGRADE_NOT_FOUND, ...). Its last argument is `char** errptr`:
 *       - errptr may be NULL when the message is not wanted;
 *       - otherwise *errptr must be NULL or a string this library returned.
 *         On failure the old *errptr is freed and replaced by the message, the
 *         same text the C++ API gives (it names the value, the JSON path and
 *         what is accepted). On success *errptr is left as it was.
 *     Output arguments are written only on success.
 *  3. Every char* this library returns (messages, JSON) is allocated by it;
 *     release it with degrade_free(). Strings passed in are copied; the
 *     caller keeps ownership. All text is UTF-8, NUL-terminated.
 *  4. A NULL pointer where a string or handle is required is an error
 *     (DEGRADE_INVALID_ARGUMENT), never a crash, except for degrade_enabled,
 *     whose cost matters: its handle must be valid.
 *  5. Switch handles live as long as the process (switches are never
 *     deleted); they never need freeing. Runtime handles are freed with
 *     degrade_runtime_destroy().
 *  6. Every function may be called from any thread. Change callbacks run on
 *     whichever thread made the change, without library locks held.
 *  7. The environment layer (DEGRADE_<NAME>, DEGRADE_GROUP_<GROUP>,
 *     DEGRADE_ALL) is read when a switch is defined, as in C++.
 *
 * Link with -ldegrade_c (pkg-config: degrade_c). The header compiles as C99
 * and as C++.
 */
#ifndef DEGRADE_DEGRADE_C_H_
#define DEGRADE_DEGRADE_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ types */

typedef struct degrade_switch_t degrade_switch_t;
typedef struct degrade_runtime_t degrade_runtime_t;

/* Return codes: absl::StatusCode values. */
#define DEGRADE_OK 0
#define DEGRADE_CANCELLED 1
#define DEGRADE_UNKNOWN 2
#define DEGRADE_INVALID_ARGUMENT 3
#define DEGRADE_DEADLINE_EXCEEDED 4
#define DEGRADE_NOT_FOUND 5
#define DEGRADE_ALREADY_EXISTS 6
#define DEGRADE_PERMISSION_DENIED 7
#define DEGRADE_RESOURCE_EXHAUSTED 8
#define DEGRADE_FAILED_PRECONDITION 9
#define DEGRADE_ABORTED 10
#define DEGRADE_OUT_OF_RANGE 11
#define DEGRADE_UNIMPLEMENTED 12
#define DEGRADE_INTERNAL 13
#define DEGRADE_UNAVAILABLE 14
#define DEGRADE_DATA_LOSS 15
#define DEGRADE_UNAUTHENTICATED 16

/* Layers, lowest precedence first (their names are those of snapshots and
 * listings: "default", "file", "env", "remote", "breaker", "governor", "admin"). */
#define DEGRADE_LAYER_DEFAULT 0
#define DEGRADE_LAYER_FILE 1
#define DEGRADE_LAYER_ENV 2
#define DEGRADE_LAYER_REMOTE 3
#define DEGRADE_LAYER_BREAKER 4
#define DEGRADE_LAYER_GOVERNOR 5
#define DEGRADE_LAYER_ADMIN 6

/* Fault kinds in degrade_state_t. */
#define DEGRADE_FAULT_NONE 0
#define DEGRADE_FAULT_ERROR 1
#define DEGRADE_FAULT_DELAY 2

/* A switch's effective state and who decided it. */
typedef struct degrade_state_t {
  uint8_t on;              /* 1 on, 0 off */
  double allow;            /* fraction of calls let through while on; 1 when off */
  int fault_kind;          /* DEGRADE_FAULT_NONE, _ERROR or _DELAY */
  double fault_rate;       /* in [0, 1]; 0 without a fault */
  uint32_t fault_delay_ms; /* 0 without a fault */
  int layer;               /* deciding layer of the state, DEGRADE_LAYER_* */
  int fault_layer;         /* layer that set the fault, or -1 */
} degrade_state_t;

/* Per-switch counts of degrade::Call / degrade_call, summed over threads. */
typedef struct degrade_counters_t {
  uint64_t calls;            /* every call */
  uint64_t primary_ok;       /* primary ran and succeeded */
  uint64_t skipped;          /* switch off, or the dimmer said no */
  uint64_t primary_failures; /* primary failed */
  uint64_t injected_faults;  /* error and delay faults injected */
  uint64_t fallbacks;        /* fallback ran */
} degrade_counters_t;

/* ---------------------------------------------------------------- general */

/* The library version, e.g. "0.1.0". Static storage; do not free. */
const char* degrade_version(void);

/* Frees a string returned by this library. NULL is ignored. */
void degrade_free(void* ptr);

/* The name of a DEGRADE_LAYER_* value ("env"), or NULL when out of range.
 * Static storage; do not free. */
const char* degrade_layer_name(int layer);

/* --------------------------------------------------------------- switches */

/* Defines a switch in the global registry and reads its environment layer.
 *   name         1-128 characters of [a-z0-9._-], starting with [a-z0-9]
 *   description  what the dependency is and what users lose without it
 *                (NULL is taken as "")
 *   owner        team or person to page; NULL or "" for none
 *   groups       NULL-terminated array of group names, or NULL for none
 *   default_on   1 on, 0 off: the default layer's state
 *   default_allow  with default_on = 1: the fraction of calls let through,
 *                in [0, 1] (1 for a plain switch); ignored when off
 * On success stores the handle in *out.
 * Errors: INVALID_ARGUMENT for a bad name, group or allow, or a NULL name or
 * out; ALREADY_EXISTS for a name already defined (by any language) or one
 * whose environment variable another switch, group or DEGRADE_* setting
 * uses; RESOURCE_EXHAUSTED past 65,536 switches. */
int degrade_switch_define(const char* name, const char* description, const char* owner,
                          const char* const* groups, uint8_t default_on, double default_allow,
                          degrade_switch_t** out, char** errptr);

/* Stores in *out the switch called `name`, defined by any language.
 * Errors: NOT_FOUND when no switch has that name; INVALID_ARGUMENT for NULL.
 * Takes a lock: look a name up once, not per call. */
int degrade_switch_find(const char* name, degrade_switch_t** out, char** errptr);

/* ----------------------------------------------------------------- hot path */

/* 1 when the dependency should be called, 0 when it is switched off (or the
 * dimmer says no to this call). Cost: one function call into the library
 * plus Switch::enabled(), which is one relaxed atomic load and a predictable
 * branch: no lock, no allocation, never blocks. Measured (bindings/c/bench_c.c,
 * docs/bindings.md) at 7-9 ns on the project's 2-core VM, against 1-1.5 ns
 * for the inline C++ check: the difference is the call into the shared
 * library. `sw` must be a valid handle. */
uint8_t degrade_enabled(const degrade_switch_t* sw);

/* Sticky dimming (Switch::enabled(key), docs/dimming.md): like
 * degrade_enabled, but a fractional allow is decided by `key` (key_len bytes,
 * any bytes; NULL only with key_len 0) instead of a per-call draw, so the
 * same user, session or tenant gets the same answer in every thread and
 * process, and stays in as allow grows. Plainly on or off: as
 * degrade_enabled. Never allocates or blocks. `sw` must be a valid handle. */
uint8_t degrade_enabled_for(const degrade_switch_t* sw, const char* key, size_t key_len);

/* ------------------------------------------------------- switch details */

/* The switch's name / description. Valid as long as the switch (forever). */
const char* degrade_switch_name(const degrade_switch_t* sw);
const char* degrade_switch_description(const degrade_switch_t* sw);

/* Writes the switch's effective state and deciding layers into *out.
 * Errors: INVALID_ARGUMENT for NULL arguments. */
int degrade_switch_state(const degrade_switch_t* sw, degrade_state_t* out, char** errptr);

/* Writes the switch's call counters into *out.
 * Errors: INVALID_ARGUMENT for NULL arguments. */
int degrade_switch_counters(const degrade_switch_t* sw, degrade_counters_t* out,
                            char** errptr);

/* ------------------------------------------------------------------- call */

/* Primary: returns 0 on success, anything else on failure.
 * Fallback: the degraded path; cannot fail. */
typedef int (*degrade_primary_fn)(void* arg);
typedef void (*degrade_fallback_fn)(void* arg);

/* degrade::Call for C: when the switch lets the call through, runs
 * primary(arg); when the switch is off (or dimmed out), an injected error
 * fault hits, or primary returns non-zero, runs fallback(arg) instead. An
 * injected delay fault sleeps, then runs the primary. Counts the outcome in
 * the switch's counters and feeds the breaker, exactly as C++ does.
 * Returns 1 when the primary ran and succeeded, 0 when the fallback ran.
 * `sw`, `primary` and `fallback` must be valid. */
uint8_t degrade_call(const degrade_switch_t* sw, degrade_primary_fn primary,
                     degrade_fallback_fn fallback, void* arg);

/* ----------------------------------------------------------- admin layer */

/* Sets the admin-layer override of switch `name`, replacing any previous
 * one; the admin layer beats every other layer.
 *   on      1 on, 0 off
 *   allow   with on = 1, the fraction let through, in [0, 1]; ignored when off
 *   reason, actor  shown in listings and change events; NULL or "" for none
 *                  (actor defaults to "api")
 *   ttl_s   seconds until the override expires by itself; 0 for never
 * Errors: NOT_FOUND for a switch not defined in this process;
 * INVALID_ARGUMENT for allow outside [0, 1], a negative or non-finite ttl_s,
 * or a NULL name. Nothing changes on error. */
int degrade_set_override(const char* name, uint8_t on, double allow, const char* reason,
                         const char* actor, double ttl_s, char** errptr);

/* Sets the fault part of switch `name`'s admin entry, keeping the entry's
 * state (if any): a drill fault does not turn a switch back on.
 *   kind      "error" (the call fails and the fallback runs), "delay" (the
 *             call is delayed by delay_ms, then runs), "off" (explicitly no
 *             fault: hides faults of lower layers), or NULL to remove the
 *             admin entry's fault (the entry goes when nothing is left)
 *   rate      fraction of calls hit, in [0, 1]
 *   delay_ms  at most 600000; at least 1 for "delay"
 *   reason, actor  replace the entry's when not NULL (NULL keeps them)
 *   ttl_s   seconds until the whole admin entry expires; 0 keeps the entry's
 *           expiry (none for a new entry)
 * Errors: NOT_FOUND, INVALID_ARGUMENT (kind, rate, delay_ms, ttl_s).
 * Reading the admin entry and writing it back are two steps: a concurrent
 * writer of the same switch's admin entry may be overwritten. */
int degrade_set_fault(const char* name, const char* kind, double rate, uint32_t delay_ms,
                      const char* reason, const char* actor, double ttl_s, char** errptr);

/* Removes switch `name`'s admin-layer override. OK when there was none.
 * Errors: NOT_FOUND for a switch not defined here. */
int degrade_clear_override(const char* name, char** errptr);

/* --------------------------------------------------------------- snapshots */

/* Replaces the whole of `layer` ("file", "remote", "breaker" or "admin")
 * with the snapshot JSON `json` (DESIGN section 3), all or nothing.
 * `source` names who did it in events and errors (NULL: the layer's name).
 * Errors: INVALID_ARGUMENT for an unknown layer name, the default or env
 * layer, malformed JSON (with line and column), or a wrong type or value
 * anywhere, naming the JSON path:
 *   api: switches."search.suggest".allow: 1.5 is not in [0, 1]; ...
 * and for a breaker entry other than "off". Nothing changes on error. */
int degrade_apply_snapshot(const char* layer, const char* json, const char* source,
                           char** errptr);

/* Parses `json` as a snapshot without applying it (a config check). On
 * success, when normalized_out is not NULL, stores the snapshot written back
 * as compact JSON with sorted keys (free with degrade_free).
 * Errors: as degrade_apply_snapshot's for malformed or invalid snapshots. */
int degrade_snapshot_check(const char* json, const char* source, char** normalized_out,
                           char** errptr);

/* ----------------------------------------------------------------- listing */

/* Every switch with its effective state, deciding layer, reason, expiry,
 * each layer's setting and counters, plus source health and recent errors,
 * as the JSON of degrade/listing.h (the admin endpoint's format). Free with
 * degrade_free. NULL only when out of memory. */
char* degrade_list_json(void);

/* One switch (defined here, or only named by some layer) as a JSON object
 * of that listing. Errors: NOT_FOUND when no one knows the name. */
int degrade_get_json(const char* name, char** json_out, char** errptr);

/* ------------------------------------------------------------- environment */

/* The environment variable of switch `name` ("search.suggest" ->
 * "DEGRADE_SEARCH_SUGGEST"). Errors: INVALID_ARGUMENT for a bad name. */
int degrade_env_var_for_switch(const char* name, char** var_out, char** errptr);

/* The environment variable of group `name` ("tier2" ->
 * "DEGRADE_GROUP_TIER2"). Errors: INVALID_ARGUMENT for a bad name. */
int degrade_env_var_for_group(const char* name, char** var_out, char** errptr);

/* Parses an environment value as the env layer does ("off", "25%", ...):
 * stores 1/0 in *on and the fraction let through in *allow (1 when off or
 * plainly on). `var` only names the variable in the message.
 * Errors: INVALID_ARGUMENT naming the variable, the value and what is
 * accepted. */
int degrade_parse_env_value(const char* var, const char* value, uint8_t* on, double* allow,
                            char** errptr);

/* ---------------------------------------------------------- change events */

/* Called once per effective change of any switch, with one JSON object:
 * {"time":..,"event":"change","switch":..,"old":{..},"new":{..},
 *  "old_layer":..,"layer":..,"fault_layer":..,"actor":..,"reason":..,
 *  "expires_at":..} (docs/audit.md; actor and reason name the change's
 *  cause). The string is valid
 * only during the call. Runs on the thread that made the change, after the
 * new state is visible to degrade_enabled, one event at a time; it may call
 * back into this API. Must not block for long. */
typedef void (*degrade_change_fn)(void* arg, const char* event_json);

/* Registers `fn` (with `arg`) for change events; stores its id in *id_out.
 * Errors: INVALID_ARGUMENT for a NULL fn or id_out. */
int degrade_add_listener(degrade_change_fn fn, void* arg, uint64_t* id_out, char** errptr);

/* Unregisters a listener; unknown ids are ignored. An event being delivered
 * on another thread at that moment may still reach it once. */
void degrade_remove_listener(uint64_t id);

/* ------------------------------------------------------------------ runtime */

/* Starts the sources the environment configures (DEGRADE_CONFIG_FILE,
 * DEGRADE_REMOTE_URLS, DEGRADE_ETCD_*, DEGRADE_CACHE_FILE,
 * DEGRADE_ADMIN_ADDR, ...) for the global registry, and stores the runtime
 * in *out. Nothing configured is fine: a runtime that does nothing.
 * Errors: INVALID_ARGUMENT naming the variable, its value and what is
 * accepted. May block briefly (first reads, binding the admin port). */
int degrade_runtime_from_env(degrade_runtime_t** out, char** errptr);

/* The admin endpoint's bound port, or 0 when it is off (or `rt` is NULL). */
int degrade_runtime_admin_port(const degrade_runtime_t* rt);

/* Stops every source and joins its threads; switch states stay as they are.
 * NULL is ignored. Blocks until the sources have stopped. */
void degrade_runtime_destroy(degrade_runtime_t* rt);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DEGRADE_DEGRADE_C_H_ */
