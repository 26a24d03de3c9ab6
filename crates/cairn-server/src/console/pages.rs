//! The console's HTML: shells the script fills in (`assets/console.js`). Everything written
//! into a page from elsewhere goes through [`escape`]; events themselves never reach the HTML
//! here (the script writes them as text).

use crate::audit::principal_arn;
use crate::config::{Permissions, Principal};

use super::sessions::Session;

/// `text` as HTML text or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every signed-in page shows around its content: who is signed in, and what the
/// script needs (the CSRF token, the default region, whether changes are allowed).
pub struct Frame {
    who: String,
    account_id: String,
    csrf_token: String,
    region: String,
    read_only: bool,
}

impl Frame {
    pub fn of(principal: &Principal, session: &Session, default_region: &str) -> Frame {
        Frame {
            who: principal_arn(principal),
            account_id: principal.account_id.clone(),
            csrf_token: session.csrf_token.clone(),
            region: default_region.to_owned(),
            read_only: principal.permissions != Permissions::Admin,
        }
    }
}

fn document(title: &str, head: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · cairn</title>
<link rel="stylesheet" href="/console/assets/console.css">
<link rel="icon" href="/console/assets/cairn.svg" type="image/svg+xml">
{head}</head>
<body>
{body}
<script src="/console/assets/console.js"></script>
</body>
</html>
"#,
        title = escape(title)
    )
}

/// A signed-in page: the navigation, then `main` (whose `data-page` tells the script what to
/// do).
fn signed_in(frame: &Frame, title: &str, page: &str, main: &str) -> String {
    let head = format!(
        "<meta name=\"cairn-csrf\" content=\"{}\">\n<meta name=\"cairn-region\" content=\"{}\">\n\
         <meta name=\"cairn-read-only\" content=\"{}\">\n",
        escape(&frame.csrf_token),
        escape(&frame.region),
        frame.read_only
    );
    let body = format!(
        r#"<header class="top">
<a class="brand" href="/console/">cairn</a>
<nav aria-label="Console">
<a href="/console/events">Event history</a>
<a href="/console/lake">Lake</a>
<a href="/console/trails">Trails</a>
</nav>
<label class="region">Region <input id="region" name="region" size="14" value="{region}"></label>
<span class="who" title="Account {account}">{who}</span>
<form method="post" action="/console/signout" class="signout">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit">Sign out</button>
</form>
</header>
<main data-page="{page}">
<h1>{title}</h1>
{main}
</main>"#,
        region = escape(&frame.region),
        account = escape(&frame.account_id),
        who = escape(&frame.who),
        csrf = escape(&frame.csrf_token),
        page = escape(page),
        title = escape(title),
    );
    document(title, &head, &body)
}

pub fn sign_in(error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e))
    });
    let body = format!(
        r#"<main class="signin">
<h1>Sign in to cairn</h1>
{error}<form method="post" action="/console/signin">
<label for="access_key_id">Access key ID</label>
<input id="access_key_id" name="access_key_id" autocomplete="username" required>
<label for="secret_access_key">Secret access key</label>
<input id="secret_access_key" name="secret_access_key" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>"#
    );
    document("Sign in", "", &body)
}

/// The lookup attributes, as LookupEvents names them.
const ATTRIBUTES: [(&str, &str); 8] = [
    ("EventName", "Event name"),
    ("EventSource", "Event source"),
    ("Username", "User name"),
    ("ResourceType", "Resource type"),
    ("ResourceName", "Resource name"),
    ("EventId", "Event ID"),
    ("AccessKeyId", "AWS access key"),
    ("ReadOnly", "Read-only"),
];

/// The time presets of event history.
const RANGES: [(&str, &str); 9] = [
    ("30m", "Last 30 minutes"),
    ("1h", "Last hour"),
    ("3h", "Last 3 hours"),
    ("12h", "Last 12 hours"),
    ("1d", "Last day"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("all", "All time"),
    ("custom", "Custom range"),
];

fn options(choices: &[(&str, &str)]) -> String {
    choices
        .iter()
        .map(|(value, label)| {
            format!(
                "<option value=\"{}\">{}</option>",
                escape(value),
                escape(label)
            )
        })
        .collect()
}

pub fn events(frame: &Frame) -> String {
    let main = format!(
        r#"<form id="filters" class="filters">
<label>Lookup attribute <select id="attribute" name="attribute"><option value="">(none)</option>{attributes}</select></label>
<label>Attribute value <input id="value" name="value" size="32"></label>
<label>Time range <select id="range" name="range">{ranges}</select></label>
<label class="custom">Start <input id="start" name="start" placeholder="2024-01-01T00:00:00Z" size="22"></label>
<label class="custom">End <input id="end" name="end" placeholder="2024-01-02T00:00:00Z" size="22"></label>
<label class="toggle"><input id="errors" name="errors" type="checkbox"> Errors only</label>
<label class="toggle"><input id="writes" name="writes" type="checkbox"> Writes only</label>
<button type="submit">Apply</button>
</form>
<div id="more-filters" class="more-filters"></div>
<section class="overview">
<div class="chart"><p id="matched" class="matched"></p><div id="histogram"></div></div>
<div id="top-values" class="top-values"></div>
</section>
<p id="status" role="status" aria-live="polite"></p>
<div class="table-actions">
<a id="download-csv" download>Download events (CSV)</a>
<a id="download-json" download>Download events (JSON)</a>
<details id="columns" class="columns"><summary>Columns</summary></details>
<button id="compare" type="button" disabled>Compare selected (0)</button>
</div>
<section id="comparison" class="comparison" hidden></section>
<table id="events" class="events">
<thead></thead>
<tbody></tbody>
</table>
<button id="more" type="button" hidden>Load more</button>"#,
        attributes = options(&ATTRIBUTES),
        ranges = options(&RANGES),
    );
    signed_in(frame, "Event history", "events", &main)
}

pub fn event(frame: &Frame, event_id: &str) -> String {
    let main = format!(
        r#"<p><a href="/console/events">Event history</a></p>
<div id="event" data-event-id="{}"></div>
<p id="status" role="status" aria-live="polite"></p>"#,
        escape(event_id)
    );
    signed_in(frame, "Event", "event", &main)
}

pub fn lake(frame: &Frame) -> String {
    let main = r#"<section class="lake-store">
<label>Event data store <select id="store" name="store"></select></label>
<label>Its ID <input id="store-id" readonly size="40"></label>
<button id="copy-id" type="button">Copy ID</button>
</section>
<section class="editor">
<label for="query">Query</label>
<textarea id="query" name="query" rows="6" cols="100" spellcheck="false"></textarea>
<div class="editor-actions">
<label>Sample queries <select id="samples"><option value="">(choose one)</option></select></label>
<button id="run" type="button">Run</button>
<button id="cancel" type="button" disabled>Cancel</button>
<label>Save as <input id="query-name" size="20" placeholder="a name"></label>
<button id="save-query" type="button">Save</button>
<label>Saved queries <select id="saved"><option value="">(none)</option></select></label>
</div>
</section>
<p id="status" role="status" aria-live="polite"></p>
<section class="results" hidden>
<h2>Results</h2>
<div class="results-actions">
<label>Filter rows <input id="results-filter" size="24"></label>
<button id="previous-page" type="button" disabled>Previous page</button>
<span id="page-number"></span>
<button id="next-page" type="button" disabled>Next page</button>
<button id="download-results" type="button">Download CSV</button>
</div>
<table id="results" class="events"><thead></thead><tbody></tbody></table>
</section>
<section class="history">
<h2>Query history</h2>
<table id="history" class="events">
<thead><tr><th scope="col">Query</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
<tbody></tbody>
</table>
</section>"#;
    signed_in(frame, "Lake", "lake", main)
}

pub fn trails(frame: &Frame) -> String {
    let main = r#"<p id="status" role="status" aria-live="polite"></p>
<table id="trails" class="events">
<thead><tr><th scope="col">Name</th><th scope="col">Home region</th><th scope="col">S3 bucket</th><th scope="col">Logging</th><th scope="col">Last delivery</th><th scope="col">Last error</th><th scope="col">Last digest</th><th scope="col">Actions</th></tr></thead>
<tbody></tbody>
</table>
<form id="trail-form" class="trail-form">
<h2 id="trail-form-title">Create trail</h2>
<p id="trail-error" class="error" role="alert" hidden></p>
<label>Trail name <input id="trail-name" name="name" required></label>
<label>S3 bucket <input id="trail-bucket" name="bucket" required></label>
<label>S3 key prefix <input id="trail-prefix" name="prefix"></label>
<label><input id="trail-multi-region" name="multi_region" type="checkbox"> Multi-region trail</label>
<label><input id="trail-validation" name="validation" type="checkbox" checked> Log file validation</label>
<button id="trail-submit" type="submit">Create trail</button>
<button id="trail-new" type="button" hidden>New trail instead</button>
</form>"#;
    signed_in(frame, "Trails", "trails", main)
}

/// A page saying why something the console was asked could not be done.
pub fn error_page(title: &str, message: &str) -> String {
    document(
        title,
        "",
        &format!(
            "<main><h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p><a href=\"/console/events\">Event history</a></p></main>",
            escape(title),
            escape(message)
        ),
    )
}

pub fn not_found() -> String {
    document(
        "Not found",
        "",
        "<main><h1>Not found</h1><p><a href=\"/console/\">cairn's console</a></p></main>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
