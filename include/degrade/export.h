// DEGRADE_EXPORT: what libdegrade.so exports.
//
// libdegrade is compiled with hidden symbol visibility (-fvisibility=hidden),
// so a symbol is part of the shared library's interface only when its
// declaration in a public header carries DEGRADE_EXPORT: the public API, and
// the few out-of-line functions and the thread-local variable that the inline
// hot path (Switch::enabled, degrade::Call) reaches. Everything else -- the
// registry core, the sources, the etcd client, the admin server, the HTTP
// and JSON libraries inside -- stays private to the library, so no program
// can link against it and no release has to keep it stable.
#ifndef DEGRADE_EXPORT_H_
#define DEGRADE_EXPORT_H_

// DEGRADE_NO_EXPORT keeps a member of an exported class private to the
// library (a constructor only the library calls, taking internal types).
#if defined(__GNUC__) || defined(__clang__)
#define DEGRADE_EXPORT __attribute__((visibility("default")))
#define DEGRADE_NO_EXPORT __attribute__((visibility("hidden")))
#else
#define DEGRADE_EXPORT
#define DEGRADE_NO_EXPORT
#endif

#endif  // DEGRADE_EXPORT_H_
