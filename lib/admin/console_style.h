// The incident console's style sheet (console_html.h puts it inside the
// page's <style> element). Not installed.
#ifndef DEGRADE_LIB_CONSOLE_STYLE_H_
#define DEGRADE_LIB_CONSOLE_STYLE_H_

#include <string_view>

namespace degrade::internal {

inline constexpr std::string_view kConsoleStyle = R"css(:root { color-scheme: dark; --bg: #0e1318; --panel: #18202a; --line: #2b3540; --text: #eef2f6;
  --muted: #a3b0bd; --red: #dc2626; --red-bg: #3d1214; --amber: #f59e0b; --amber-bg: #3b2c0a;
  --green: #16a34a; --purple: #a855f7; --blue: #3b82f6; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 18px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; padding: 10px 20px; background: #090d11;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 3; }
h1 { font-size: 24px; margin: 0; font-weight: 700; }
h1 small { color: var(--muted); font-weight: 400; font-size: 18px; margin-left: 8px; }
h2 { font-size: 16px; margin: 0 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
.spacer { flex: 1; }
.pill { padding: 4px 12px; border-radius: 999px; font-size: 16px; font-weight: 600; min-width: 0; overflow-wrap: anywhere; }
.pill.live { background: #0f3d22; color: #86efac; }
.pill.stale { background: var(--red); color: #fff; }
main { padding: 14px 20px 40px; }
#banner { margin: 12px 20px 0; padding: 12px 16px; border-radius: 8px; display: flex; gap: 12px;
  align-items: center; font-size: 19px; font-weight: 600; }
#banner.error { background: var(--red); color: #fff; }
#banner.ok { background: #14532d; color: #dcfce7; }
#banner span { flex: 1; white-space: pre-wrap; word-break: break-word; }
#shed-banner { margin: 12px 20px 0; padding: 12px 16px; border-radius: 8px; font-size: 19px;
  font-weight: 600; background: #7c2d12; color: #ffedd5; }
#shed-banner div { white-space: pre-wrap; overflow-wrap: anywhere; }
#governor { margin: 12px 20px 0; padding: 10px 16px; border-radius: 8px; font-size: 17px;
  background: var(--panel); border: 1px solid var(--line); overflow-wrap: anywhere; }
#governor.acting { background: #713f12; color: #fef9c3; font-weight: 600; }
#health { display: flex; gap: 16px; flex-wrap: wrap; margin-bottom: 14px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
#sources-panel { flex: 1 1 420px; }
#errors-panel { flex: 2 1 520px; }
.source { display: flex; gap: 10px; align-items: baseline; margin: 4px 0; flex-wrap: wrap; }
.source > span { min-width: 0; overflow-wrap: anywhere; }
.dot { width: 14px; height: 14px; border-radius: 50%; display: inline-block; flex: none; position: relative; top: 1px; }
.dot.ok { background: var(--green); } .dot.bad { background: var(--red); }
.muted { color: var(--muted); }
.small { font-size: 15px; }
.errtext { color: #fca5a5; }
#errors { margin: 0; padding-left: 0; list-style: none; max-height: 9.5em; overflow: auto; font-size: 15px; }
#errors li { margin: 2px 0; overflow-wrap: anywhere; }
#errors li.recovered { opacity: .6; }
#errors li.recovered .errtext { color: var(--muted); text-decoration: line-through; }
.toolbar { display: flex; gap: 16px; align-items: center; margin: 6px 0 10px; flex-wrap: wrap; }
#filter { font: inherit; font-size: 19px; padding: 8px 12px; width: 28em; max-width: 100%; border-radius: 8px;
  border: 2px solid var(--line); background: #0a0f14; color: var(--text); }
#filter:focus { border-color: var(--blue); outline: none; }
.count { font-weight: 700; }
.count.off { color: #f87171; } .count.dim { color: var(--amber); } .count.fault { color: #d8b4fe; }
/* A fixed layout: column widths come from the colgroup, never from the
   longest name or reason, so the table never runs past the window. */
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
col.c1 { width: 18%; } col.c2 { width: 11%; } col.c3 { width: 11%; } col.c4 { width: 15%; }
col.c5 { width: 10%; } col.c6 { width: 16%; } col.c7 { width: 19%; }
th { text-align: left; font-size: 14px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  padding: 8px 10px; border-bottom: 2px solid var(--line); }
td { padding: 10px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
tr.st-off > td { background: var(--red-bg); }
tr.st-dim > td { background: var(--amber-bg); }
tr.undefined > td { opacity: .75; }
.sw-name { font-weight: 700; font-size: 20px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
.desc { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.desc { margin-top: 2px; }
.badge { display: inline-block; font-weight: 800; padding: 4px 10px; border-radius: 6px; font-size: 17px;
  letter-spacing: .03em; max-width: 100%; margin: 0 6px 4px 0; }
.badge.on { background: var(--green); color: #fff; }
.badge.off { background: var(--red); color: #fff; }
.badge.dim { background: var(--amber); color: #111; }
.badge.fault { background: var(--purple); color: #fff; }
.badge.undefined { background: #4b5563; color: #fff; }
.badge.breaker { background: #7f1d1d; color: #fff; border: 2px solid #fca5a5; }
.layer { font-weight: 700; }
.layer.admin { color: #93c5fd; } .layer.breaker { color: #fca5a5; }
.scope { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 16px; }
.rate { font-weight: 700; }
.rate.hot { color: #fca5a5; }
.num { font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
.reason { display: -webkit-box; -webkit-line-clamp: 4; -webkit-box-orient: vertical; overflow: hidden; }
.ctl input, .ctl select { font: inherit; font-size: 16px; padding: 5px 8px; border-radius: 6px;
  border: 1px solid var(--line); background: #0a0f14; color: var(--text); }
.ctl input { width: 100%; }
.ctl .row2 { margin-top: 6px; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.ctl select { max-width: 100%; }
.ctl .note { margin-top: 4px; }
button { font: inherit; font-size: 17px; font-weight: 700; padding: 6px 12px; border-radius: 6px;
  border: 2px solid #3b4652; background: #26303a; color: var(--text); cursor: pointer; }
button:hover:not(:disabled) { filter: brightness(1.25); }
button:disabled { opacity: .45; cursor: not-allowed; }
button.b-off { background: #991b1b; border-color: var(--red); color: #fff; }
button.b-on { background: #166534; border-color: var(--green); color: #fff; }
dialog { background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: 12px;
  padding: 20px 24px; width: 34em; max-width: 95vw; }
dialog::backdrop { background: rgba(0,0,0,.6); }
dialog label { display: block; margin: 12px 0; }
dialog input { display: block; width: 100%; font: inherit; padding: 8px 10px; margin-top: 4px; border-radius: 6px;
  border: 1px solid var(--line); background: #0a0f14; color: var(--text); }
dialog .buttons { display: flex; justify-content: flex-end; gap: 10px; }
)css";

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CONSOLE_STYLE_H_
