/** The console's stylesheet: light and dark from the system setting, a card layout on phones. */
export const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #5b6470; --line: #d9dde3;
  --accent: #2458d3; --accent-text: #ffffff; --danger: #b42318; --danger-bg: #fdecea;
  --ok: #1f7a3f; --hover: #eef2fb; --focus: #2458d3; --shadow: 0 1px 3px rgba(0,0,0,.08);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111418; --panel: #1a1f25; --text: #e6e9ee; --muted: #9aa4b1; --line: #2d343d;
    --accent: #6d9bff; --accent-text: #0b1020; --danger: #ff8a80; --danger-bg: #3a1d1b;
    --ok: #6fd49a; --hover: #222a35; --focus: #8fb3ff; --shadow: none;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
[hidden] { display: none !important; }
.vh { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
button, input, select, textarea { font: inherit; color: inherit; }
button { cursor: pointer; border: 1px solid var(--line); background: var(--panel); border-radius: 6px; padding: .35rem .75rem; }
button:hover { background: var(--hover); }
button:disabled { opacity: .45; cursor: default; background: var(--panel); }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
button.danger { color: var(--danger); }
button.danger.solid { background: var(--danger); color: var(--panel); border-color: var(--danger); }
button.link { border: 0; background: none; padding: 0; color: var(--accent); text-align: left; font-weight: 600; overflow-wrap: anywhere; }
button.link:hover { text-decoration: underline; background: none; }
input, select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .4rem .55rem; min-width: 0; }
textarea { width: 100%; resize: vertical; }
header.bar { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .75rem 1.25rem; background: var(--panel); border-bottom: 1px solid var(--line); }
header.bar h1 { font-size: 1.15rem; margin: 0; margin-right: auto; }
.who { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem .75rem; color: var(--muted); }
.who b { color: var(--text); }
.usage.full { color: var(--danger); font-weight: 600; }
.who form { display: flex; gap: .35rem; align-items: center; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem; box-shadow: var(--shadow); }
#login { max-width: 32rem; margin: 3rem auto; display: grid; gap: .75rem; }
#login h2 { margin: 0; font-size: 1.1rem; }
#login p { margin: 0; color: var(--muted); }
.alert { display: flex; gap: 1rem; align-items: flex-start; justify-content: space-between; max-width: 72rem; margin: 1rem auto 0; padding: .75rem 1rem; border-radius: 8px; background: var(--danger-bg); color: var(--danger); border: 1px solid var(--danger); }
.alert button { border: 0; background: none; color: inherit; font-size: 1.2rem; line-height: 1; padding: 0 .25rem; }
.drop { display: block; text-align: center; padding: 1.5rem 1rem; border: 2px dashed var(--line); border-radius: 10px; background: var(--panel); color: var(--muted); cursor: pointer; }
.drop:focus-within { outline: 2px solid var(--focus); outline-offset: 2px; }
.drop.over { border-color: var(--accent); background: var(--hover); color: var(--text); }
.drop strong { color: var(--text); }
.drop u { color: var(--accent); }
.uploads { list-style: none; margin: .75rem 0 0; padding: 0; display: grid; gap: .4rem; }
.uploads li { display: grid; grid-template-columns: minmax(0, 1fr) 10rem 3.5rem; gap: .75rem; align-items: center; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .45rem .75rem; }
.uploads .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.uploads .state { color: var(--muted); font-size: .85em; text-align: right; }
.uploads li.done .state { color: var(--ok); }
.uploads li.failed .state { color: var(--danger); }
.progress { height: .5rem; border-radius: 999px; background: var(--line); overflow: hidden; }
.progress > span { display: block; height: 100%; width: 0; background: var(--accent); transition: width .15s linear; }
.uploads li.done .progress > span { background: var(--ok); }
.uploads li.failed .progress > span { background: var(--danger); }
.tabs { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem; margin: 0 0 1rem; border-bottom: 1px solid var(--line); }
.tabs [role=tab] { border: 0; border-bottom: 2px solid transparent; border-radius: 0; background: none; padding: .45rem .9rem; color: var(--muted); }
.tabs [role=tab][aria-selected=true] { color: var(--text); border-bottom-color: var(--accent); font-weight: 600; }
.tabs .muted { margin-left: auto; font-size: .9em; }
.versions { list-style: none; margin: 0; padding: 0; }
.versions li { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem .6rem; padding: .35rem 0; border-bottom: 1px solid var(--line); }
.versions li .v { font-weight: 600; min-width: 2.2rem; }
.versions li .actions { margin-left: auto; display: flex; gap: .35rem; }
.versions .current { color: var(--ok); font-size: .9em; }
.listbar { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 1.25rem 0 .5rem; }
.listbar input[type=search] { flex: 1 1 16rem; }
.listbar .count { color: var(--muted); }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: .55rem .75rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: .85em; color: var(--muted); font-weight: 600; white-space: nowrap; }
th button { border: 0; background: none; padding: 0; color: inherit; font-weight: inherit; }
th[aria-sort=ascending] button::after { content: " ▲"; }
th[aria-sort=descending] button::after { content: " ▼"; }
tbody tr:hover { background: var(--hover); }
tbody tr:last-child td { border-bottom: 0; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.muted, .muted { color: var(--muted); }
td.actions { white-space: nowrap; text-align: right; }
td.actions button { margin-left: .25rem; }
.sub { display: block; color: var(--muted); font-size: .85em; }
.pager { display: flex; gap: .75rem; align-items: center; justify-content: flex-end; margin-top: .75rem; color: var(--muted); }
.empty { text-align: center; color: var(--muted); padding: 2rem 1rem; }
.detail { position: fixed; top: 0; right: 0; bottom: 0; width: min(34rem, 100%); background: var(--panel); border-left: 1px solid var(--line); box-shadow: -4px 0 24px rgba(0,0,0,.18); overflow-y: auto; padding: 1rem 1.25rem 2rem; z-index: 10; }
.detail header { display: flex; justify-content: space-between; align-items: flex-start; gap: 1rem; }
.detail h2 { font-size: 1.1rem; margin: .25rem 0 .75rem; overflow-wrap: anywhere; }
.detail section { border-top: 1px solid var(--line); padding: .9rem 0; }
.detail h3 { font-size: .95rem; margin: 0 0 .6rem; }
.detail dl { display: grid; grid-template-columns: 7.5rem minmax(0, 1fr); gap: .3rem .75rem; margin: 0; }
.detail dt { color: var(--muted); }
.detail dd { margin: 0; overflow-wrap: anywhere; }
.detail form { display: grid; gap: .6rem; }
.detail label { display: grid; gap: .2rem; font-size: .9em; color: var(--muted); }
.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.row.end { justify-content: flex-end; margin-top: .4rem; }
.row input[readonly] { flex: 1 1 12rem; }
.preview { display: grid; place-items: center; min-height: 4rem; background: var(--bg); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.preview img, .preview video { max-width: 100%; max-height: 24rem; display: block; }
.preview audio { width: 100%; }
.preview iframe { width: 100%; height: 28rem; border: 0; background: #fff; }
.preview pre { margin: 0; padding: .75rem; width: 100%; max-height: 24rem; overflow: auto; font-size: .85em; white-space: pre-wrap; overflow-wrap: anywhere; }
.preview p { color: var(--muted); padding: 1rem; margin: 0; }
dialog { border: 1px solid var(--line); border-radius: 10px; background: var(--panel); color: var(--text); padding: 1.25rem; max-width: 26rem; }
dialog::backdrop { background: rgba(0,0,0,.45); }
dialog h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
dialog p { overflow-wrap: anywhere; }
dialog .row { justify-content: flex-end; }
.status { position: fixed; left: 50%; bottom: 1rem; transform: translateX(-50%); margin: 0; padding: .5rem .9rem; border-radius: 8px; background: var(--text); color: var(--bg); max-width: calc(100% - 2rem); }
.status:empty { display: none; }
@media (max-width: 640px) {
  header.bar { padding: .6rem .9rem; }
  main { padding: .75rem .75rem 4rem; }
  table, thead, tbody, tr, td { display: block; width: 100%; }
  thead tr { display: flex; flex-wrap: wrap; gap: .25rem .75rem; padding: .5rem .75rem; border-bottom: 1px solid var(--line); }
  thead th { display: inline-block; border: 0; padding: 0; }
  thead th:last-child { display: none; }
  tbody tr { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: .1rem .75rem; padding: .6rem .75rem; border-bottom: 1px solid var(--line); }
  tbody td { border: 0; padding: 0; }
  tbody td.name { grid-column: 1 / -1; }
  tbody td.type, tbody td.expires { display: none; }
  tbody td.actions { grid-column: 1 / -1; text-align: left; margin-top: .35rem; }
  td.actions button { margin: 0 .35rem 0 0; }
  .uploads li { grid-template-columns: minmax(0, 1fr) 3.5rem; }
  .uploads .progress { grid-column: 1 / -1; grid-row: 2; }
  .detail dl { grid-template-columns: 6rem minmax(0, 1fr); }
}
`;
