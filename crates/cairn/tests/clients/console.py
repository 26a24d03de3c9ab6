"""The console in a real browser: Playwright for Python driving Debian's chromium (installed by
scripts/setup-browser.sh; never `playwright install`) against a live `cairn serve` holding the
repository's datasets plus one hostile event.

Run by crates/cairn/tests/it/console.rs: `python console.py SCENARIO.json`. The scenario adds
to the usual one `screenshots` (a folder: each journey saves its final page there) and
`hostile_event_id` (an event whose userAgent and requestParameters hold HTML). Each journey
prints one line; the first failure raises. No page may log a console error.
"""

import csv
import datetime
import json
import os
import re
import shutil
import sys
import time
import urllib.parse

from playwright.sync_api import expect, sync_playwright

from scenario import Scenario, ok

setup = Scenario(sys.argv[1])
BASE = setup.endpoint
SHOTS = setup.data["screenshots"]
HOSTILE_ID = setup.data["hostile_event_id"]
HOSTILE_TEXT = setup.data["hostile_text"]
REGION = setup.data["console_region"]
alice = setup.principals["alice"]
auditor = setup.principals["auditor"]
api = setup.client("alice", region=REGION)
os.makedirs(SHOTS, exist_ok=True)
problems = []


def watch(page):
    """Every console error or uncaught exception of `page` is a failure; a dialog (an alert a
    hostile value would open) too."""
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def sign_in(page, who, secret=None):
    page.goto(f"{BASE}/console/events")
    expect(page).to_have_url(f"{BASE}/console/signin")
    page.get_by_label("Access key ID").fill(who["access_key_id"])
    page.get_by_label("Secret access key").fill(secret or who["secret_access_key"])
    page.get_by_role("button", name="Sign in").click()


STARTED = time.time() - 5


def lookup_events(**query):
    """LookupEvents' first page (50), asked through boto3: (ID, time) of each event."""
    out = api.lookup_events(MaxResults=50, **query)
    return [(e["EventId"], e["EventTime"].timestamp()) for e in out["Events"]]


def lookup_ids(**query):
    return [event_id for event_id, _ in lookup_events(**query)]


def shown_events(page):
    """The rows the page shows: (ID, time) of each."""
    rows = page.locator("#events tbody tr.event").evaluate_all(
        "rows => rows.map(r => [r.getAttribute('data-event-id'), r.querySelector('td.time').textContent])")
    return [(event_id, datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
            for event_id, t in rows]


def shown_ids(page):
    return [event_id for event_id, _ in shown_events(page)]


def same_events(shown, expected):
    """Whether the page shows LookupEvents' answer. Both are newest first; the test's own calls
    (the console's and boto3's, recorded as they happen) may differ between the two moments they
    were asked, so those are left out and the rest must agree."""
    older = lambda events: [e for e, t in events if t < STARTED]
    a, b = older(shown), older(expected)
    n = min(len(a), len(b))
    return a[:n] == b[:n] and (n > 0 or not a and not b)


def wait_loaded(page):
    expect(page.locator("#status")).not_to_have_text("Loading…")
    expect(page.locator("#status")).not_to_have_text("")


def journey_wrong_secret(browser):
    page = browser.new_page()
    watch(page)
    sign_in(page, alice, secret="not-the-secret")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page).to_have_url(f"{BASE}/console/signin")
    assert "not-the-secret" not in page.content()
    page.goto(f"{BASE}/console/events")
    expect(page).to_have_url(f"{BASE}/console/signin")
    shot(page, "wrong-secret")
    page.close()
    # Recorded as AWS records a failed console sign-in.
    failures = [json.loads(e["CloudTrailEvent"]) for e in api.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}])["Events"]]
    failure = next(e for e in failures if e["responseElements"]["ConsoleLogin"] == "Failure")
    assert failure["eventSource"] == "signin.amazonaws.com", failure
    assert failure["eventType"] == "AwsConsoleSignIn", failure
    assert failure["errorMessage"] == "Failed authentication", failure
    assert failure["userIdentity"]["userName"] == "alice", failure
    assert "not-the-secret" not in json.dumps(failure)
    ok("a wrong secret is refused, says so, and is recorded as a failed ConsoleLogin")


def journey_history(browser):
    page = browser.new_page()
    watch(page)
    sign_in(page, alice)
    expect(page).to_have_url(f"{BASE}/console/events")
    expect(page.get_by_role("heading", name="Event history")).to_be_visible()
    wait_loaded(page)
    # Newest first, the same events LookupEvents gives, the console's own calls among them.
    assert same_events(shown_events(page), lookup_events()), "the first page differs from LookupEvents'"
    cookie = next(c for c in page.context.cookies() if c["name"] == "cairn-session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    sign_ins = [json.loads(e["CloudTrailEvent"]) for e in api.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}])["Events"]]
    success = next(e for e in sign_ins if e["responseElements"] == {"ConsoleLogin": "Success"})
    assert success["userIdentity"]["userName"] == "alice" and "errorMessage" not in success, success
    ok("signing in shows event history, newest first, as LookupEvents gives it")

    # Each attribute: the form's filter is LookupEvents' filter.
    names = {}
    for event in api.lookup_events(MaxResults=50)["Events"]:
        names.setdefault(event["EventName"], event)
    sample = next(e for e in api.lookup_events(
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        EndTime=1767225600)["Events"])
    resource = next(r for e in api.lookup_events(EndTime=1767225600, MaxResults=50)["Events"]
                    for r in e.get("Resources", []))
    cases = [
        ("EventName", sample["EventName"]),
        ("EventSource", sample["EventSource"]),
        ("Username", sample.get("Username") or "alice"),
        ("EventId", sample["EventId"]),
        ("ReadOnly", "false"),
        ("ResourceType", resource["ResourceType"]),
        ("ResourceName", resource["ResourceName"]),
        ("AccessKeyId", alice["access_key_id"]),
    ]
    for attribute, value in cases:
        page.get_by_label("Lookup attribute").select_option(attribute)
        page.get_by_label("Attribute value").fill(value)
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(
            f"{BASE}/console/events?" + urllib.parse.urlencode({"attribute": attribute, "value": value}))
        wait_loaded(page)
        expected = lookup_events(LookupAttributes=[{"AttributeKey": attribute, "AttributeValue": value}])
        assert expected, (attribute, value)
        assert same_events(shown_events(page), expected), (attribute, value)
    ok(f"each of the {len(cases)} lookup attributes filters as LookupEvents does")

    # The back button returns to the filter before.
    page.go_back()
    expect(page).to_have_url(
        f"{BASE}/console/events?" + urllib.parse.urlencode({"attribute": cases[-2][0], "value": cases[-2][1]}))
    expect(page.get_by_label("Attribute value")).to_have_value(cases[-2][1])
    ok("the view is in the URL: the back button restores the filter before")

    # A preset: only events of the last hour (the console's own calls).
    page.goto(f"{BASE}/console/events?range=1h")
    wait_loaded(page)
    expect(page.get_by_label("Time range")).to_have_value("1h")
    times = page.locator("#events tbody td.time").all_inner_texts()
    assert times, "no event of the last hour"
    assert all(t >= "2026" for t in times), times
    # A custom range of the datasets' years.
    # A custom range: the day around a dataset event.
    around = sample["EventTime"].timestamp()
    iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    start, end = int(around) - 43200, int(around) + 43200
    page.goto(f"{BASE}/console/events?start={iso(start)}&end={iso(end)}")
    wait_loaded(page)
    expected = lookup_ids(StartTime=start, EndTime=end)
    assert expected and shown_ids(page) == expected, "a custom range differs from LookupEvents'"
    ok("time presets and a custom range filter by time")

    # Expand a row: its whole record.
    first = page.locator("#events tbody tr.event").first
    event_id = first.get_attribute("data-event-id")
    first.get_by_role("button").click()
    record = page.locator("#events tbody tr.detail pre").first.inner_text()
    truth = next(e for e in api.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventId", "AttributeValue": event_id}])["Events"])
    assert json.loads(record) == json.loads(truth["CloudTrailEvent"])
    # Keyboard: Enter on a focused row toggles it back.
    first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#events tbody tr.detail")).to_have_count(0)
    ok("a row expands to its record JSON, and collapses from the keyboard")

    # The permalink.
    first.get_by_role("link").click()
    expect(page).to_have_url(f"{BASE}/console/events/{event_id}")
    expect(page.locator("#event dl.facts")).to_contain_text(event_id)
    assert json.loads(page.locator("#event pre").inner_text()) == json.loads(truth["CloudTrailEvent"])
    shot(page, "event-page")
    ok("an event's page is its permalink")

    # A value of an expanded event filters on click.
    page.goto(f"{BASE}/console/events?end=2026-01-01T00:00:00Z")
    wait_loaded(page)
    first = page.locator("#events tbody tr.event").first
    name = first.locator("td.name").inner_text()
    first.get_by_role("button", name=f"Show the record of {name}").click()
    page.locator("tr.detail button.filter-by[data-attribute='EventName']").click()
    expect(page).to_have_url(f"{BASE}/console/events?" + urllib.parse.urlencode(
        {"end": "2026-01-01T00:00:00Z", "attribute": "EventName", "value": name}))
    wait_loaded(page)
    names = page.locator("#events tbody td.name").all_inner_texts()
    assert names and set(names) == {name}, names
    ok("a value of an expanded event filters event history on click")

    # The column chooser, kept in the URL.
    expect(page.locator("#events thead th.error")).to_be_hidden()
    page.locator("#columns summary").click()
    page.locator("#columns").get_by_label("Error code").check()
    page.locator("#columns").get_by_label("Resource type").uncheck()
    expect(page.locator("#events thead th.error")).to_be_visible()
    expect(page.locator("#events thead th.rtype")).to_be_hidden()
    assert "columns=" in page.url, page.url
    page.reload()
    wait_loaded(page)
    expect(page.locator("#events thead th.error")).to_be_visible()
    expect(page.locator("#events tbody tr.event td.rtype").first).to_be_hidden()
    ok("a column chooser shows and hides columns, and the URL keeps the choice")

    # Compare events side by side (at most 5).
    page.goto(f"{BASE}/console/events?end=2026-01-01T00:00:00Z")
    wait_loaded(page)
    picks = page.locator("#events tbody input.pick")
    for i in range(5):
        picks.nth(i).check()
    expect(picks.nth(5)).to_be_disabled()
    page.get_by_role("button", name="Compare selected (5)").click()
    compare = page.locator("#comparison table")
    expect(compare.locator("thead th")).to_have_count(6)
    expect(compare.locator("tbody tr.differs th", has_text="eventID")).to_have_count(1)
    shot(page, "compare")
    ok("up to 5 events compare side by side, their differences marked")

    # Beyond AWS: facets, toggles, several attributes, the histogram, all checked against
    # every event LookupEvents gives for the same range (the datasets: before 2026).
    everything = [e for p in api.get_paginator("lookup_events").paginate(EndTime=1767225600)
                  for e in p["Events"]]
    # (Some events share an ID: each is read from its own record.)
    for e in everything:
        e["record"] = json.loads(e["CloudTrailEvent"])
    page.goto(f"{BASE}/console/events?end=2026-01-01T00:00:00Z")
    wait_loaded(page)
    expect(page.locator("#matched")).to_have_text(f"{len(everything)} events match")
    names = {}
    for e in everything:
        names[e["EventName"]] = names.get(e["EventName"], 0) + 1
    top_name, top_count = sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    first_name = page.locator("[data-facet='EventName'] li").first
    expect(first_name.locator("button")).to_have_text(top_name)
    expect(first_name.locator(".count")).to_have_text(str(top_count))
    bars = page.locator("#histogram rect.bar")
    assert bars.count() == 60, bars.count()
    ok("the overview counts the matching events, their top values and a histogram, as LookupEvents' events give them")

    # The facets of many searches, each as counting LookupEvents' events for it gives them
    # (the store's columns answer most; resource attributes read the records).
    def expected_facets(events):
        def top(values):
            counts = {}
            for v in values:
                if isinstance(v, str):
                    counts[v] = counts.get(v, 0) + 1
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            return [{"Value": v, "Count": n} for v, n in ranked]
        return {
            "Matched": len(events),
            "EventName": top(e.get("EventName") for e in events),
            "EventSource": top(e.get("EventSource") for e in events),
            "Username": top(e.get("Username") for e in events),
            "ErrorCode": top(e["record"].get("errorCode") for e in events),
            "SourceIPAddress": top(e["record"].get("sourceIPAddress") for e in events),
        }

    def has(e, key, value):
        if key in ("ResourceType", "ResourceName"):
            return any(r.get(key) == value for r in e.get("Resources", []))
        if key == "ReadOnly":
            return e.get("ReadOnly") == value
        if key == "AccessKeyId":
            return e.get("AccessKeyId") == value
        return e.get(key) == value

    some = next(e for e in everything if e.get("AccessKeyId") and e.get("Resources"))
    searches = [
        ([], False, False),
        ([], True, False),
        ([], False, True),
        ([("EventName", top_name)], False, False),
        ([("Username", some["Username"])], False, False),
        ([("EventSource", some["EventSource"]), ("ReadOnly", "true")], False, False),
        ([("AccessKeyId", some["AccessKeyId"])], True, False),
        ([("EventId", some["EventId"])], False, False),
        ([("ResourceType", some["Resources"][0]["ResourceType"])], False, False),
        ([("EventSource", some["EventSource"]), ("ResourceName", some["Resources"][0]["ResourceName"])], False, False),
    ]
    for attributes, errors_only, writes_only in searches:
        answer = page.evaluate("""async ([request, region]) => {
            const csrf = document.querySelector('meta[name="cairn-csrf"]').content;
            const response = await fetch('/console/search', {method: 'POST', body: JSON.stringify(request),
                headers: {'Content-Type': 'application/json', 'X-Cairn-Csrf': csrf, 'X-Cairn-Region': region}});
            return await response.json();
        }""", [{"LookupAttributes": [{"AttributeKey": k, "AttributeValue": v} for k, v in attributes],
                "EndTime": 1767225600, "ErrorsOnly": errors_only, "WritesOnly": writes_only, "Facets": True},
               REGION])
        matching = [e for e in everything
                    if all(has(e, k, v) for k, v in attributes)
                    and (not errors_only or isinstance(e["record"].get("errorCode"), str))
                    and (not writes_only or e.get("ReadOnly") == "false")]
        want = expected_facets(matching)
        got = {"Matched": answer["Matched"], **answer["Top"]}
        assert got == want, (attributes, errors_only, writes_only, got, want)
        assert sum(answer["Histogram"]["Counts"]) == len(matching), (attributes, answer["Histogram"])
    ok("the facets of every kind of search are those of the events LookupEvents gives for it")

    page.get_by_label("Errors only").check()
    page.get_by_role("button", name="Apply").click()
    wait_loaded(page)
    errors = [e["EventId"] for e in everything if isinstance(e["record"].get("errorCode"), str)]
    expect(page.locator("#matched")).to_have_text(f"{len(errors)} events match")
    assert shown_ids(page) == errors[:50], "errors only differs from the errors among LookupEvents' events"
    page.get_by_label("Errors only").uncheck()
    page.get_by_label("Writes only").check()
    page.get_by_role("button", name="Apply").click()
    wait_loaded(page)
    writes = [e["EventId"] for e in everything if e.get("ReadOnly") == "false"]
    expect(page.locator("#matched")).to_have_text(f"{len(writes)} events match")
    assert shown_ids(page) == writes[:50], "writes only differs"
    ok("'errors only' and 'writes only' keep the errors and the writes")

    # Two attributes at once: a top value's click adds its attribute.
    user = page.locator("[data-facet='Username'] li button").first.inner_text()
    page.locator("[data-facet='Username'] li button").first.click()
    wait_loaded(page)
    source = page.locator("[data-facet='EventSource'] li button").first.inner_text()
    page.locator("[data-facet='EventSource'] li button").first.click()
    wait_loaded(page)
    both = [e["EventId"] for e in everything if e.get("ReadOnly") == "false"
            and e.get("Username") == user and e.get("EventSource") == source]
    assert both, (user, source)
    assert shown_ids(page) == both[:50], "two attributes differ from both filters"
    expect(page.locator("#more-filters button.chip")).to_have_count(1)
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download events (JSON)").click()
    assert [r["eventID"] for r in json.load(open(downloaded.value.path()))["Records"]] == both
    page.locator("#more-filters button.chip").click()
    wait_loaded(page)
    assert "EventSource" not in page.url, page.url
    ok("top values filter on click, several attributes at once, and the download keeps them")

    # The histogram: a click on a bar zooms to its time.
    page.goto(f"{BASE}/console/events?end=2026-01-01T00:00:00Z")
    wait_loaded(page)
    busiest = max(range(60), key=lambda i: int(bars.nth(i).get_attribute("height").split(".")[0]))
    bars.nth(busiest).click()
    expect(page).to_have_url(re.compile(r"start=.*&end=|end=.*&start="))
    wait_loaded(page)
    start = datetime.datetime.fromisoformat(page.locator("#start").input_value().replace("Z", "+00:00")).timestamp()
    end = datetime.datetime.fromisoformat(page.locator("#end").input_value().replace("Z", "+00:00")).timestamp()
    inside = [e["EventId"] for e in everything if start <= e["EventTime"].timestamp() <= end]
    assert inside and shown_ids(page) == inside[:50], "the zoomed range differs"
    shot(page, "overview")
    ok("a click on the histogram zooms to its time")

    # Downloads: every event of the filter, as LookupEvents pages through them.
    page.goto(f"{BASE}/console/events?attribute=ReadOnly&value=false&end=2026-01-01T00:00:00Z")
    wait_loaded(page)
    paginator = api.get_paginator("lookup_events")
    expected = [e["EventId"] for p in paginator.paginate(
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}], EndTime=1767225600)
        for e in p["Events"]]
    assert len(expected) > 50, len(expected)
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download events (CSV)").click()
    with open(downloaded.value.path(), newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:4] == ["Event ID", "Event time", "User name", "Event name"], table[0]
    assert [row[0] for row in table[1:]] == expected, "the CSV differs from LookupEvents"
    assert all(json.loads(row[-1])["eventID"] == row[0] for row in table[1:])
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download events (JSON)").click()
    records = json.load(open(downloaded.value.path()))["Records"]
    assert [r["eventID"] for r in records] == expected, "the JSON differs from LookupEvents"
    ok(f"the filter's {len(expected)} events download as CSV and as JSON, as LookupEvents gives them")

    # Paging.
    page.goto(f"{BASE}/console/events?range=all")
    wait_loaded(page)
    before = len(shown_ids(page))
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#events tbody tr.event")).to_have_count(before + 50)
    all_ids = shown_ids(page)
    assert len(set(all_ids)) == len(all_ids) == before + 50, "a page repeated events"
    shot(page, "history")
    ok("Load more pages on")

    # Signing out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{BASE}/console/signin")
    page.goto(f"{BASE}/console/events")
    expect(page).to_have_url(f"{BASE}/console/signin")
    page.close()
    ok("signing out ends the session")


def journey_hostile_event(browser):
    page = browser.new_page()
    watch(page)
    sign_in(page, auditor)
    page.goto(f"{BASE}/console/events?attribute=EventId&value={HOSTILE_ID}")
    wait_loaded(page)
    row = page.locator("#events tbody tr.event")
    expect(row).to_have_count(1)
    row.get_by_role("button").click()
    record = json.loads(page.locator("#events tbody tr.detail pre").inner_text())
    assert HOSTILE_TEXT in record["userAgent"], record
    assert record["requestParameters"]["filterSet"]["items"][0]["name"] == HOSTILE_TEXT, record
    expect(row.locator("td.user")).to_have_text("<script>window.__pwned=1</script>")
    page.goto(f"{BASE}/console/events/{HOSTILE_ID}")
    expect(page.locator("#event dl.facts")).to_contain_text("<script>window.__pwned=1</script>")
    assert json.loads(page.locator("#event pre").inner_text())["userAgent"] == record["userAgent"]
    # Shown as text: nothing ran, no element was made of it.
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    shot(page, "hostile-event")
    page.close()
    ok("an event holding HTML and script is shown as text and runs nothing")


def journey_lake(browser):
    # A store of alice's account that takes the calls made from now on, and calls to fill it.
    store = api.create_event_data_store(Name="console-lake", RetentionPeriod=7)
    store_id = store["EventDataStoreArn"].split("/")[-1]
    for _ in range(60):
        api.list_trails()
    page = browser.new_page(accept_downloads=True)
    watch(page)
    sign_in(page, alice)
    page.get_by_role("link", name="Lake").click()
    expect(page).to_have_url(f"{BASE}/console/lake")
    expect(page.get_by_label("Its ID")).to_have_value(store_id)
    sql = f"SELECT eventID, eventName FROM {store_id} WHERE eventName = 'ListTrails' ORDER BY eventID"
    page.get_by_label("Query").fill(sql)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Status: FINISHED", timeout=20000)
    expect(page.locator("#status")).to_contain_text("60 events matched")
    expect(page.locator("#results tbody tr")).to_have_count(50)
    first_page = page.locator("#results tbody tr td:first-child").all_inner_texts()
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#results tbody tr")).to_have_count(10)
    second_page = page.locator("#results tbody tr td:first-child").all_inner_texts()
    # The same rows boto3 pages through.
    query_id = api.list_queries(EventDataStore=store_id)["Queries"][0]["QueryId"]
    rows, token = [], None
    while True:
        out = api.get_query_results(QueryId=query_id, MaxQueryResults=50, **({"NextToken": token} if token else {}))
        rows += [row[0]["eventID"] for row in out["QueryResultRows"]]
        token = out.get("NextToken")
        if not token:
            break
    assert first_page + second_page == rows, "the console's pages differ from GetQueryResults'"
    ok("a Lake query run in the console pages through the rows GetQueryResults gives")

    page.get_by_label("Filter rows").fill(rows[-1])
    expect(page.locator("#results tbody tr:not([hidden])")).to_have_count(1)
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Download CSV").click()
    text = open(downloaded.value.path()).read()
    lines = text.strip().splitlines()
    assert lines[0] == "eventID,eventName", lines[0]
    assert [line.split(",")[0] for line in lines[1:]] == rows, "the CSV differs from the results"
    ok("its results filter, and download as CSV")

    page.get_by_label("Save as").fill("list trails")
    page.get_by_role("button", name="Save").click()
    page.reload()
    page.get_by_label("Saved queries").select_option("list trails")
    expect(page.get_by_label("Query")).to_have_value(sql)
    expect(page.locator("#history tbody tr").first).to_contain_text(query_id)
    shot(page, "lake")
    page.close()
    ok("queries are saved by name in the browser, and the query history lists it")


def journey_trails(browser):
    os.makedirs(os.path.join(setup.data["buckets"], "console-trail-logs"), exist_ok=True)
    page = browser.new_page()
    watch(page)
    sign_in(page, alice)
    page.goto(f"{BASE}/console/trails")
    wait_loaded(page)
    # AWS's validation, shown in the form.
    page.get_by_label("Trail name").fill("no")
    page.get_by_label("S3 bucket").fill("console-trail-logs")
    page.get_by_role("button", name="Create trail").click()
    expect(page.locator("#trail-error")).to_be_visible()
    message = page.locator("#trail-error").inner_text()
    try:
        api.create_trail(Name="no", S3BucketName="console-trail-logs")
        raise AssertionError("CreateTrail took a two-letter name")
    except api.exceptions.ClientError as e:
        assert e.response["Error"]["Message"] == message, (message, e.response)
    ok("a trail the API refuses shows the API's message in the form")

    page.get_by_label("Trail name").fill("console-trail")
    page.get_by_role("button", name="Create trail").click()
    row = page.locator("#trails tbody tr[data-trail='console-trail']")
    expect(row.locator("td.logging")).to_have_text("Not logging")
    row.get_by_role("button", name="Start logging").click()
    expect(row.locator("td.logging")).to_have_text("Logging")
    assert api.get_trail_status(Name="console-trail")["IsLogging"] is True
    ok("a trail created and started in the console is logging")

    row.get_by_role("button", name="Edit").click()
    page.get_by_label("S3 key prefix").fill("edited")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#trail-form-title")).to_have_text("Create trail")
    assert api.get_trail(Name="console-trail")["Trail"]["S3KeyPrefix"] == "edited"
    row.get_by_role("button", name="Stop logging").click()
    expect(row.locator("td.logging")).to_have_text("Not logging")
    shot(page, "trails")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm delete").click()
    expect(row).to_have_count(0)
    assert "console-trail" not in [t["Name"] for t in api.list_trails()["Trails"]]
    page.close()
    ok("a trail is edited, stopped and deleted in the console")

    # A read-only principal sees trails and cannot change them.
    page = browser.new_page()
    watch(page)
    sign_in(page, auditor)
    page.goto(f"{BASE}/console/trails")
    wait_loaded(page)
    expect(page.locator("#trail-form")).to_be_hidden()
    page.close()
    ok("a read-only principal is shown no trail changes")


def journey_api_without_session(browser):
    # Not watched: the refused call is logged by the browser as the error it is.
    page = browser.new_page()
    page.goto(f"{BASE}/console/signin")
    status = page.evaluate(
        """async () => (await fetch('/console/api/LookupEvents', {method: 'POST', body: '{}'})).status""")
    assert status == 400 or status == 403, status
    page.close()
    ok("the console's API answers nothing without a session")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                args=["--no-sandbox"])
    try:
        journey_wrong_secret(browser)
        journey_history(browser)
        journey_hostile_event(browser)
        journey_lake(browser)
        journey_trails(browser)
        journey_api_without_session(browser)
    finally:
        browser.close()
assert not problems, problems
ok("no page logged an error")
