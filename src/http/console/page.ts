/** The console's one page. `{{BASE}}` is where the handler is mounted ("" at the root). */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>chuk-artifacts</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{BASE}}/console.css">
<script type="module" src="{{BASE}}/console.js"></script>
</head>
<body>
<header class="bar">
  <h1>chuk-artifacts</h1>
  <div class="who" id="who" hidden>
    <span>Signed in as <b id="user"></b></span>
    <span id="session-label">Session <code id="session"></code></span>
    <span id="usage" class="usage" hidden></span>
    <form id="session-form" hidden>
      <label for="session-input">Session</label>
      <input id="session-input" list="session-list" autocomplete="off" spellcheck="false" size="18" required>
      <datalist id="session-list"></datalist>
      <button>Open</button>
    </form>
    <button id="logout" type="button">Forget key</button>
  </div>
</header>
<div id="alert" class="alert" role="alert" hidden>
  <span id="alert-text"></span>
  <button id="alert-close" type="button" aria-label="Dismiss">×</button>
</div>
<main>
  <form id="login" class="card">
    <h2>Connect</h2>
    <p>Paste the API key <code>chuk-artifacts serve</code> printed when it started.</p>
    <label for="key">API key</label>
    <input id="key" type="password" autocomplete="off" spellcheck="false" required>
    <div class="row"><button class="primary">Connect</button></div>
  </form>
  <section id="main" hidden aria-label="Artifacts">
    <div class="tabs" role="tablist" aria-label="Which files">
      <button type="button" role="tab" id="tab-session" data-scope="session" aria-selected="true" aria-controls="rows">Session</button>
      <button type="button" role="tab" id="tab-user" data-scope="user" aria-selected="false" aria-controls="rows">Mine</button>
      <button type="button" role="tab" id="tab-sandbox" data-scope="sandbox" aria-selected="false" aria-controls="rows">Shared</button>
      <span id="scope-note" class="muted"></span>
    </div>
    <label id="drop" class="drop" for="file">
      <input id="file" class="vh" type="file" multiple>
      <strong>Drop files here</strong> or <u>choose files</u>
      <span class="sub">Large files upload in parts; each shows its progress.</span>
    </label>
    <ul id="uploads" class="uploads" aria-label="Uploads"></ul>
    <div class="row end"><button id="clear-uploads" type="button" hidden>Clear finished uploads</button></div>
    <div class="listbar">
      <input id="filter" type="search" placeholder="Search: words, image/*, reports/*.pdf, team=red" aria-label="Search this session" autocomplete="off">
      <span id="count" class="count" aria-live="polite"></span>
      <button id="refresh" type="button">Refresh</button>
    </div>
    <table>
      <thead><tr>
        <th aria-sort="none"><button type="button" data-sort="filename">Name</button></th>
        <th aria-sort="none"><button type="button" data-sort="bytes">Size</button></th>
        <th aria-sort="none"><button type="button" data-sort="mime">Type</button></th>
        <th aria-sort="descending"><button type="button" data-sort="storedAt">Stored</button></th>
        <th aria-sort="none"><button type="button" data-sort="expiresAt">Expires</button></th>
        <th><span class="vh">Actions</span></th>
      </tr></thead>
      <tbody id="rows"></tbody>
    </table>
    <p id="empty" class="empty" hidden></p>
    <nav class="pager" id="pager" aria-label="Pages" hidden>
      <button id="prev" type="button">Previous</button>
      <span id="page-info"></span>
      <button id="next" type="button">Next</button>
    </nav>
  </section>
</main>
<aside id="detail" class="detail" hidden aria-labelledby="detail-title" tabindex="-1">
  <header>
    <h2 id="detail-title"></h2>
    <button id="detail-close" type="button" aria-label="Close details">×</button>
  </header>
  <section aria-labelledby="preview-title">
    <h3 id="preview-title">Preview</h3>
    <div id="preview" class="preview"></div>
  </section>
  <section aria-labelledby="share-title">
    <h3 id="share-title">Share</h3>
    <div class="row">
      <label for="link-expires" class="vh">Link valid for</label>
      <select id="link-expires">
        <option value="300">5 minutes</option>
        <option value="3600" selected>1 hour</option>
        <option value="86400">1 day</option>
        <option value="604800">7 days</option>
      </select>
      <button id="copy-link" type="button">Copy signed link</button>
      <button id="download" type="button">Download</button>
    </div>
    <div class="row" id="link-row" hidden>
      <input id="link-url" readonly aria-label="Signed link">
      <span id="link-expiry" class="muted"></span>
    </div>
  </section>
  <section aria-labelledby="versions-title">
    <h3 id="versions-title">Versions</h3>
    <ol id="versions" class="versions"></ol>
  </section>
  <section aria-labelledby="edit-title">
    <h3 id="edit-title">Details</h3>
    <form id="edit">
      <label>Filename <input id="edit-filename" autocomplete="off"></label>
      <label>Summary <textarea id="edit-summary" rows="2"></textarea></label>
      <label>Type <input id="edit-mime" autocomplete="off" spellcheck="false"></label>
      <label>Expires after (seconds, or "never") <input id="edit-ttl" autocomplete="off" spellcheck="false"></label>
      <label>Meta (JSON object) <textarea id="edit-meta" rows="4" class="mono" spellcheck="false"></textarea></label>
      <div class="row"><button class="primary">Save changes</button><button id="delete" type="button" class="danger">Delete…</button></div>
    </form>
  </section>
  <section aria-labelledby="facts-title">
    <h3 id="facts-title">Facts</h3>
    <dl id="facts"></dl>
  </section>
</aside>
<dialog id="confirm" aria-labelledby="confirm-title">
  <h2 id="confirm-title">Delete this file?</h2>
  <p id="confirm-text"></p>
  <div class="row">
    <button type="button" data-answer="cancel" autofocus>Cancel</button>
    <button type="button" data-answer="delete" class="danger solid">Delete</button>
  </div>
</dialog>
<p id="status" class="status" role="status"></p>
</body>
</html>
`;
