"""`cairn bench console`'s browser side: Playwright for Python driving Debian's chromium.

    python console_bench.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY REPEAT DOWNLOAD_EVENTS START END

Signs in, then navigates to event history REPEAT times, each time measuring (in the page,
from navigation start) when the first event row is on screen; then REPEAT times to event
history from START to END (ISO 8601), measuring when the count of matching events, the
histogram and the top values are on screen; then streams "Download events" (CSV, every event
of the default view) until DOWNLOAD_EVENTS lines arrived. Prints JSON.
"""

import json
import shutil
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

endpoint, key, secret, repeat, wanted = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
start, end = sys.argv[6], sys.argv[7]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(f"{endpoint}/console/signin")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#events tbody tr.event")
    first_page = []
    for _ in range(repeat):
        page.goto(f"{endpoint}/console/events", wait_until="commit")
        page.wait_for_selector("#events tbody tr.event")
        first_page.append(page.evaluate("performance.now()"))
    facets = []
    for _ in range(repeat):
        page.goto(f"{endpoint}/console/events?start={start}&end={end}", wait_until="commit")
        page.wait_for_function("() => / events match$/.test(document.getElementById('matched')?.textContent || '')"
                               " && document.querySelectorAll('#histogram rect.bar').length > 0"
                               " && document.querySelectorAll('[data-facet] li').length > 0")
        facets.append(page.evaluate("performance.now()"))
    matched = int(page.locator("#matched").inner_text().split()[0])
    page.goto(f"{endpoint}/console/events", wait_until="commit")
    page.wait_for_selector("#events tbody tr.event")
    download_url = page.locator("#download-csv").get_attribute("href")
    cookie = next(c for c in page.context.cookies() if c["name"] == "cairn-session")
    browser.close()

request = urllib.request.Request(f"{endpoint}{download_url}",
                                 headers={"Cookie": f"cairn-session={cookie['value']}"})
started = time.perf_counter()
lines = 0
with urllib.request.urlopen(request) as response:
    while lines <= wanted:
        chunk = response.read(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
seconds = time.perf_counter() - started
events = min(lines - 1, wanted)
print(json.dumps({"first_page_ms": first_page, "facets_ms": facets, "facets_matched": matched,
                  "download_events": events, "download_seconds": seconds}))
