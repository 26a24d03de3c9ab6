// cairn's console: fills the pages' shells by calling cairn's own API through
// POST /console/api/<Operation> (the session's CSRF token in X-Cairn-Csrf, the region in
// X-Cairn-Region). Every value that comes from an event is attacker-controlled text: it is
// written with textContent or as an attribute value, never as HTML.
"use strict";

(function () {
  const meta = (name) => {
    const m = document.querySelector(`meta[name="${name}"]`);
    return m ? m.content : "";
  };
  const csrf = meta("cairn-csrf");
  const regionInput = document.getElementById("region");

  function params() {
    return new URLSearchParams(window.location.search);
  }

  function region() {
    return params().get("region") || meta("cairn-region");
  }

  async function api(operation, body) {
    const response = await fetch(`/console/api/${operation}`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Cairn-Csrf": csrf,
        "X-Cairn-Region": region(),
      },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    const text = await response.text();
    let data = {};
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = {};
    }
    // An error of the API itself comes with status 200 and its own status in this header.
    if (!response.ok || response.headers.get("x-cairn-api-status")) {
      const error = new Error(data.message || data.Message || text || response.statusText);
      error.type = (data.__type || "").split("#").pop();
      throw error;
    }
    return data;
  }

  // An element with attributes (`text` sets its text) and children.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name, value);
      }
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    }
    return node;
  }

  function setStatus(text, isError) {
    const status = document.getElementById("status");
    if (status) {
      status.textContent = text;
      status.classList.toggle("error", Boolean(isError));
    }
  }

  function isoTime(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  // The whole record, indented, as text.
  function recordText(event) {
    try {
      return JSON.stringify(JSON.parse(event.CloudTrailEvent), null, 2);
    } catch (e) {
      return event.CloudTrailEvent || "";
    }
  }

  if (regionInput) {
    regionInput.value = region();
    regionInput.addEventListener("change", () => {
      const p = params();
      p.set("region", regionInput.value.trim());
      window.location.search = p.toString();
    });
  }

  // ---- Event history -------------------------------------------------------------------

  const PRESETS = {
    "30m": 30 * 60,
    "1h": 3600,
    "3h": 3 * 3600,
    "12h": 12 * 3600,
    "1d": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
  };

  // The filter the URL describes, as the form shows it.
  function filterOfUrl() {
    const p = params();
    const start = p.get("start") || "";
    const end = p.get("end") || "";
    let range = p.get("range") || (start || end ? "custom" : "all");
    if (!(range in PRESETS) && range !== "all" && range !== "custom") {
      range = "all";
    }
    // Attributes are `attribute` and `value` pairs, in order.
    const keys = p.getAll("attribute");
    const values = p.getAll("value");
    const attributes = keys.map((key, i) => [key, values[i] || ""]).filter(([key, value]) => key && value !== "");
    return { attributes, range, start, end, errors: p.get("errors") === "1", writes: p.get("writes") === "1" };
  }

  // Whether LookupEvents itself can answer a filter (one attribute, no toggles); cairn's
  // event search answers the others.
  function plainLookup(filter) {
    return filter.attributes.length <= 1 && !filter.errors && !filter.writes;
  }

  // The request for a filter (without paging): LookupEvents', with the search's members
  // when it has more.
  function lookupRequest(filter) {
    const request = { MaxResults: 50 };
    if (filter.attributes.length) {
      request.LookupAttributes = filter.attributes.map(([key, value]) => ({ AttributeKey: key, AttributeValue: value }));
    }
    if (filter.errors) request.ErrorsOnly = true;
    if (filter.writes) request.WritesOnly = true;
    if (filter.range in PRESETS) {
      const now = Date.now() / 1000;
      request.StartTime = now - PRESETS[filter.range];
      request.EndTime = now;
    } else if (filter.range === "custom") {
      const start = Date.parse(filter.start);
      const end = Date.parse(filter.end);
      if (filter.start && Number.isNaN(start)) {
        throw new Error(`The start time ${filter.start} is not a time (ISO 8601, such as 2024-01-01T00:00:00Z).`);
      }
      if (filter.end && Number.isNaN(end)) {
        throw new Error(`The end time ${filter.end} is not a time (ISO 8601, such as 2024-01-02T00:00:00Z).`);
      }
      if (filter.start) request.StartTime = start / 1000;
      if (filter.end) request.EndTime = end / 1000;
    }
    return request;
  }

  // cairn's event search (POST /console/search), with the session's CSRF token and region.
  async function search(body) {
    const response = await fetch("/console/search", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Cairn-Csrf": csrf, "X-Cairn-Region": region() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok || response.headers.get("x-cairn-api-status")) {
      throw new Error(data.message || data.Message || response.statusText);
    }
    return data;
  }

  // The record of an event, parsed (an empty object when it is not JSON).
  function recordOf(event) {
    try {
      return JSON.parse(event.CloudTrailEvent) || {};
    } catch (e) {
      return {};
    }
  }

  // The columns event history can show: key (the cell's class), label, value, shown at first.
  const COLUMNS = [
    { key: "name", label: "Event name", shown: true, value: (e) => e.EventName },
    { key: "time", label: "Event time", shown: true, value: (e) => isoTime(e.EventTime) },
    { key: "user", label: "User name", shown: true, value: (e) => e.Username },
    { key: "source", label: "Event source", shown: true, value: (e) => e.EventSource },
    { key: "rtype", label: "Resource type", shown: true, value: (e) => ((e.Resources || [])[0] || {}).ResourceType },
    { key: "rname", label: "Resource name", shown: true, value: (e) => ((e.Resources || [])[0] || {}).ResourceName },
    { key: "key", label: "AWS access key", shown: false, value: (e) => e.AccessKeyId },
    { key: "readonly", label: "Read-only", shown: false, value: (e) => e.ReadOnly },
    { key: "region", label: "AWS region", shown: false, value: (e, r) => r.awsRegion },
    { key: "error", label: "Error code", shown: false, value: (e, r) => r.errorCode },
    { key: "ip", label: "Source IP address", shown: false, value: (e, r) => r.sourceIPAddress },
  ];

  // The columns the URL asks for (`columns=name,time,...`), else the usual ones.
  function shownColumns() {
    const asked = (params().get("columns") || "").split(",").filter((k) => COLUMNS.some((c) => c.key === k));
    return new Set(asked.length ? asked : COLUMNS.filter((c) => c.shown).map((c) => c.key));
  }

  // The values of an event that are lookup attributes: [attribute, label, value].
  function filterableValues(event) {
    const out = [];
    const add = (attribute, label, value) => {
      if (value !== undefined && value !== null && value !== "") out.push([attribute, label, String(value)]);
    };
    add("EventName", "Event name", event.EventName);
    add("EventSource", "Event source", event.EventSource);
    add("Username", "User name", event.Username);
    add("AccessKeyId", "AWS access key", event.AccessKeyId);
    add("ReadOnly", "Read-only", event.ReadOnly);
    for (const resource of event.Resources || []) {
      add("ResourceType", "Resource type", resource.ResourceType);
      add("ResourceName", "Resource name", resource.ResourceName);
    }
    return out;
  }

  // Each leaf of a record as [path, text], paths joined by ".".
  function leaves(value, path, out) {
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
      if (entries.length === 0) out.push([path, Array.isArray(value) ? "[]" : "{}"]);
      for (const [key, inner] of entries) leaves(inner, path ? `${path}.${key}` : key, out);
    } else {
      out.push([path, value === null ? "null" : String(value)]);
    }
    return out;
  }

  function eventsPage() {
    const form = document.getElementById("filters");
    const table = document.getElementById("events");
    const tbody = table.querySelector("tbody");
    const more = document.getElementById("more");
    const chooser = document.getElementById("columns");
    const compareButton = document.getElementById("compare");
    const comparison = document.getElementById("comparison");
    const MAX_COMPARED = 5;
    let nextToken = null;
    let request = null;
    let shown = 0;
    let loading = 0;
    let columns = shownColumns();
    const compared = new Map(); // event ID -> event

    function showFilter(filter) {
      const [first, ...more] = filter.attributes;
      form.attribute.value = first ? first[0] : "";
      form.value.value = first ? first[1] : "";
      form.errors.checked = filter.errors;
      form.writes.checked = filter.writes;
      // Attributes beyond the form's, each removable.
      const chips = document.getElementById("more-filters");
      chips.replaceChildren(...more.map(([key, value], i) => {
        const remove = el("button", { type: "button", class: "chip", "aria-label": `Remove the filter ${key} ${value}`, text: `${key}: ${value} ×` });
        remove.addEventListener("click", () => setAttributes(filter.attributes.filter((_, j) => j !== i + 1)));
        return remove;
      }));
      form.range.value = filter.range;
      form.start.value = filter.start;
      form.end.value = filter.end;
      document.querySelectorAll(".custom").forEach((label) => {
        label.hidden = filter.range !== "custom";
      });
    }

    // The URL of this view with `changes` made to its parameters (null removes one).
    function viewUrl(changes) {
      const p = params();
      for (const [name, value] of Object.entries(changes)) {
        if (value === null || value === "") p.delete(name);
        else p.set(name, value);
      }
      const query = p.toString();
      return query ? `?${query}` : window.location.pathname;
    }

    function go(changes) {
      window.history.pushState(null, "", viewUrl(changes));
      load();
    }

    // A view with these attributes (pairs), the rest of the URL kept.
    function setAttributes(attributes) {
      const p = params();
      p.delete("attribute");
      p.delete("value");
      for (const [key, value] of attributes) {
        p.append("attribute", key);
        p.append("value", value);
      }
      window.history.pushState(null, "", `?${p.toString()}`);
      load();
    }

    // Adds an attribute to the view's (replacing one of the same key).
    function addAttribute(key, value) {
      const kept = filterOfUrl().attributes.filter(([k]) => k !== key);
      setAttributes([...kept, [key, value]]);
    }

    const FACETS = [
      ["EventName", "Event name"],
      ["EventSource", "Event source"],
      ["Username", "User name"],
      ["ErrorCode", "Error code"],
      ["SourceIPAddress", "Source IP address"],
    ];
    const SVG = "http://www.w3.org/2000/svg";

    function svg(tag, attributes) {
      const node = document.createElementNS(SVG, tag);
      for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
      return node;
    }

    // The histogram of the matching events: a bar a bucket; a click zooms to its bucket, a
    // drag to the buckets it spans.
    function drawHistogram(histogram) {
      const holder = document.getElementById("histogram");
      const counts = histogram.Counts || [];
      const most = Math.max(1, ...counts);
      const width = 600;
      const height = 80;
      const barWidth = width / Math.max(1, counts.length);
      const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "histogram", role: "img", "aria-label": "Matching events over time" });
      const bucketTime = (i) => histogram.StartTime + i * histogram.BucketSeconds;
      counts.forEach((count, i) => {
        const barHeight = (count / most) * (height - 4);
        const bar = svg("rect", { x: i * barWidth + 0.5, y: height - barHeight, width: Math.max(1, barWidth - 1), height: barHeight, class: "bar", "data-bucket": i });
        const title = svg("title", {});
        title.textContent = `${count} events from ${isoTime(bucketTime(i))}`;
        bar.append(title);
        chart.append(bar);
      });
      const bucketAt = (event) => {
        const box = chart.getBoundingClientRect();
        return Math.min(counts.length - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * counts.length)));
      };
      let from = null;
      chart.addEventListener("mousedown", (event) => {
        from = bucketAt(event);
        event.preventDefault();
      });
      chart.addEventListener("mouseup", (event) => {
        if (from === null) return;
        const to = bucketAt(event);
        const [a, b] = [Math.min(from, to), Math.max(from, to)];
        from = null;
        go({ range: null, start: isoTime(Math.floor(bucketTime(a))), end: isoTime(Math.ceil(bucketTime(b + 1))) });
      });
      const first = counts.length ? isoTime(histogram.StartTime) : "";
      const last = counts.length ? isoTime(bucketTime(counts.length)) : "";
      holder.replaceChildren(chart, el("div", { class: "axis" }, el("span", { text: first }), el("span", { text: last })));
    }

    function drawTop(top) {
      const holder = document.getElementById("top-values");
      holder.replaceChildren(...FACETS.map(([key, label]) => {
        const items = (top[key] || []).map(({ Value, Count }) => {
          const pick = el("button", { type: "button", class: "link", text: Value });
          // Error codes and source IPs are not lookup attributes: they show, but filter only
          // through the toggles and the other values.
          if (key === "ErrorCode") {
            pick.addEventListener("click", () => go({ errors: "1" }));
          } else if (key === "SourceIPAddress") {
            pick.disabled = true;
          } else {
            pick.addEventListener("click", () => addAttribute(key, Value));
          }
          return el("li", {}, pick, el("span", { class: "count", text: String(Count) }));
        });
        return el("section", { class: "facet", "data-facet": key }, el("h2", { text: label }), el("ol", {}, ...items));
      }));
    }

    async function loadFacets(mine) {
      try {
        const answer = await search(Object.assign({}, request, { Facets: true, MaxResults: undefined }));
        if (mine !== loading) return;
        document.getElementById("matched").textContent = `${answer.Matched} events match`;
        drawHistogram(answer.Histogram || {});
        drawTop(answer.Top || {});
      } catch (error) {
        if (mine === loading) setStatus(error.message, true);
      }
    }

    function header() {
      const row = el("tr", {}, el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: "Expand" })));
      for (const column of COLUMNS) {
        row.append(el("th", { scope: "col", class: column.key, text: column.label }));
      }
      row.append(el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: "Compare" })));
      table.querySelector("thead").replaceChildren(row);
      showColumns();
    }

    function showColumns() {
      for (const column of COLUMNS) {
        table.querySelectorAll(`.${column.key}`).forEach((cell) => {
          cell.hidden = !columns.has(column.key);
        });
      }
    }

    function buildChooser() {
      const boxes = COLUMNS.map((column) => {
        const box = el("input", { type: "checkbox", name: column.key });
        box.checked = columns.has(column.key);
        box.addEventListener("change", () => {
          const keys = COLUMNS.filter((c) => chooser.querySelector(`input[name="${c.key}"]`).checked).map((c) => c.key);
          window.history.replaceState(null, "", viewUrl({ columns: keys.join(",") }));
          columns = new Set(keys);
          showColumns();
        });
        return el("label", {}, box, ` ${column.label}`);
      });
      chooser.replaceChildren(el("summary", { text: "Columns" }), ...boxes);
    }

    function updateCompare() {
      compareButton.disabled = compared.size < 2;
      compareButton.textContent = `Compare selected (${compared.size})`;
      tbody.querySelectorAll("input.pick").forEach((box) => {
        box.disabled = !box.checked && compared.size >= MAX_COMPARED;
      });
    }

    function showComparison() {
      const events = [...compared.values()];
      const paths = new Map(); // path -> texts by event
      events.forEach((event, i) => {
        for (const [path, text] of leaves(recordOf(event), "", [])) {
          if (!paths.has(path)) paths.set(path, new Array(events.length).fill(""));
          paths.get(path)[i] = text;
        }
      });
      const head = el("tr", {}, el("th", { scope: "col", text: "Member" }),
        ...events.map((e) => el("th", { scope: "col", text: `${e.EventName} ${isoTime(e.EventTime)}` })));
      const rows = [...paths.keys()].sort().map((path) => {
        const texts = paths.get(path);
        const differs = texts.some((t) => t !== texts[0]);
        return el("tr", { class: differs ? "differs" : "same" }, el("th", { scope: "row", text: path }),
          ...texts.map((t) => el("td", { text: t })));
      });
      const close = el("button", { type: "button", text: "Close comparison" });
      close.addEventListener("click", () => {
        comparison.hidden = true;
      });
      comparison.replaceChildren(el("h2", { text: `${events.length} events side by side` }), close,
        el("table", { class: "events compare" }, el("thead", {}, head), el("tbody", {}, ...rows)));
      comparison.hidden = false;
    }

    function eventRow(event) {
      const record = recordOf(event);
      const expand = el("button", {
        type: "button",
        class: "expand",
        "aria-expanded": "false",
        "aria-label": `Show the record of ${event.EventName}`,
        text: "▸",
      });
      const cells = COLUMNS.map((column) => {
        if (column.key === "name") {
          return el("td", { class: "name" }, el("a", { href: `/console/events/${encodeURIComponent(event.EventId)}`, text: event.EventName || "" }));
        }
        const value = column.value(event, record);
        return el("td", { class: column.key, text: value === undefined || value === null ? "" : String(value) });
      });
      const pick = el("input", { type: "checkbox", class: "pick", "aria-label": `Compare ${event.EventName} ${isoTime(event.EventTime)}` });
      pick.checked = compared.has(event.EventId);
      pick.addEventListener("change", () => {
        if (pick.checked) compared.set(event.EventId, event);
        else compared.delete(event.EventId);
        updateCompare();
      });
      const row = el("tr", { class: "event", "data-event-id": event.EventId, tabindex: "0" },
        el("td", {}, expand), ...cells, el("td", {}, pick));
      let detail = null;
      const toggle = () => {
        if (detail) {
          detail.remove();
          detail = null;
          expand.setAttribute("aria-expanded", "false");
          expand.textContent = "▸";
          return;
        }
        const filters = filterableValues(event).map(([attribute, label, value]) => {
          const button = el("button", { type: "button", class: "filter-by", "data-attribute": attribute, text: `${label}: ${value}` });
          button.addEventListener("click", () => {
            const range = params().get("range");
            go({ attribute, value, range, start: params().get("start"), end: params().get("end") });
          });
          return button;
        });
        detail = el("tr", { class: "detail" },
          el("td", { colspan: String(COLUMNS.length + 2) },
            el("div", { class: "filter-values" }, el("span", { text: "Filter by " }), ...filters),
            el("pre", { class: "record", text: recordText(event) })));
        row.after(detail);
        showColumns();
        expand.setAttribute("aria-expanded", "true");
        expand.textContent = "▾";
      };
      expand.addEventListener("click", toggle);
      row.addEventListener("keydown", (e) => {
        if (e.target !== row) return;
        if (e.key === "Enter") toggle();
        const rows = [...tbody.querySelectorAll("tr.event")];
        const at = rows.indexOf(row);
        if (e.key === "ArrowDown" && rows[at + 1]) rows[at + 1].focus();
        if (e.key === "ArrowUp" && rows[at - 1]) rows[at - 1].focus();
      });
      return row;
    }

    async function page() {
      const mine = ++loading;
      setStatus("Loading…");
      more.hidden = true;
      try {
        const body = Object.assign({}, request);
        if (nextToken) body.NextToken = nextToken;
        const answer = plainLookup(filterOfUrl()) ? await api("LookupEvents", body) : await search(body);
        if (mine !== loading) return;
        for (const event of answer.Events || []) {
          tbody.append(eventRow(event));
          shown += 1;
        }
        showColumns();
        updateCompare();
        nextToken = answer.NextToken || null;
        more.hidden = !nextToken;
        setStatus(shown === 0 ? "No events match." : `${shown} events shown${nextToken ? "; more match" : ""}.`);
      } catch (error) {
        if (mine === loading) setStatus(error.message, true);
      }
    }

    function load() {
      const filter = filterOfUrl();
      showFilter(filter);
      columns = shownColumns();
      buildChooser();
      header();
      tbody.replaceChildren();
      compared.clear();
      comparison.hidden = true;
      shown = 0;
      nextToken = null;
      try {
        request = lookupRequest(filter);
      } catch (error) {
        setStatus(error.message, true);
        return;
      }
      // The downloads: every event of this filter, read by the server.
      for (const format of ["csv", "json"]) {
        const link = document.getElementById(`download-${format}`);
        const query = new URLSearchParams({ format, region: region(), request: JSON.stringify(request) });
        link.href = `/console/events/download?${query}`;
      }
      page();
      loadFacets(loading);
    }

    form.range.addEventListener("change", () => {
      document.querySelectorAll(".custom").forEach((label) => {
        label.hidden = form.range.value !== "custom";
      });
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const changes = { range: null, start: null, end: null, errors: form.errors.checked ? "1" : null, writes: form.writes.checked ? "1" : null };
      if (form.range.value === "custom") {
        changes.start = form.start.value.trim();
        changes.end = form.end.value.trim();
      } else if (form.range.value !== "all") {
        changes.range = form.range.value;
      }
      // The form's attribute first, the others kept.
      const others = filterOfUrl().attributes.slice(1);
      const first = form.attribute.value && form.value.value !== "" ? [[form.attribute.value, form.value.value]] : [];
      const p = params();
      for (const [name, value] of Object.entries(changes)) {
        if (value === null || value === "") p.delete(name);
        else p.set(name, value);
      }
      p.delete("attribute");
      p.delete("value");
      for (const [key, value] of [...first, ...others]) {
        p.append("attribute", key);
        p.append("value", value);
      }
      const query = p.toString();
      window.history.pushState(null, "", query ? `?${query}` : window.location.pathname);
      load();
    });
    compareButton.addEventListener("click", showComparison);
    more.addEventListener("click", page);
    window.addEventListener("popstate", load);
    load();
  }

  // ---- One event -----------------------------------------------------------------------

  async function eventPage() {
    const holder = document.getElementById("event");
    const id = holder.getAttribute("data-event-id");
    setStatus("Loading…");
    try {
      const answer = await api("LookupEvents", {
        LookupAttributes: [{ AttributeKey: "EventId", AttributeValue: id }],
        MaxResults: 1,
      });
      const event = (answer.Events || [])[0];
      if (!event) {
        setStatus(`No event has the ID ${id}.`, true);
        return;
      }
      const facts = el("dl", { class: "facts" });
      const fact = (name, value) => {
        facts.append(el("dt", { text: name }), el("dd", { text: value || "" }));
      };
      fact("Event name", event.EventName);
      fact("Event time", isoTime(event.EventTime));
      fact("User name", event.Username);
      fact("Event source", event.EventSource);
      fact("Event ID", event.EventId);
      fact("Access key", event.AccessKeyId);
      fact("Read-only", event.ReadOnly);
      holder.replaceChildren(facts, el("pre", { class: "record", text: recordText(event) }));
      document.title = `${event.EventName} · cairn`;
      setStatus("");
    } catch (error) {
      setStatus(error.message, true);
    }
  }

  // ---- Lake ----------------------------------------------------------------------------

  // A cell of a CSV file; a value a spreadsheet would run as a formula is kept as text.
  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function download(name, type, text) {
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  }

  const SAMPLES = [
    ["Events by name", "SELECT eventName, count(*) AS events FROM $EDS GROUP BY eventName ORDER BY events DESC"],
    ["Errors by principal", "SELECT userIdentity.arn AS principal, errorCode, count(*) AS errors FROM $EDS WHERE errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY errors DESC"],
    ["Latest events", "SELECT eventTime, eventName, eventSource, userIdentity.arn FROM $EDS ORDER BY eventTime DESC LIMIT 100"],
    ["SSH keys sent to instances", "SELECT eventTime, userIdentity.arn, element_at(requestParameters, 'instanceId') AS instance, sourceIPAddress FROM $EDS WHERE eventName = 'SendSSHPublicKey' ORDER BY eventTime DESC"],
  ];
  const SAVED_KEY = "cairn-saved-queries";

  function lakePage() {
    const storeSelect = document.getElementById("store");
    const storeId = document.getElementById("store-id");
    const query = document.getElementById("query");
    const run = document.getElementById("run");
    const cancel = document.getElementById("cancel");
    const samples = document.getElementById("samples");
    const saved = document.getElementById("saved");
    const results = document.querySelector("section.results");
    const filter = document.getElementById("results-filter");
    const previous = document.getElementById("previous-page");
    const next = document.getElementById("next-page");
    const pageNumber = document.getElementById("page-number");
    let current = null; // the query shown: {id, tokens: [token of each page], page}
    let running = null;

    function storeIdOf(arn) {
      return arn.split("/").pop();
    }

    async function loadStores() {
      const answer = await api("ListEventDataStores", {});
      storeSelect.replaceChildren();
      for (const store of answer.EventDataStores || []) {
        storeSelect.append(el("option", { value: storeIdOf(store.EventDataStoreArn), text: `${store.Name} (${storeIdOf(store.EventDataStoreArn)})` }));
      }
      const wanted = params().get("store");
      if (wanted) storeSelect.value = wanted;
      storeChanged();
    }

    function storeChanged() {
      storeId.value = storeSelect.value;
      if (!query.value && storeSelect.value) {
        query.value = SAMPLES[0][1].replace("$EDS", storeSelect.value);
      }
      loadHistory();
    }

    function showSaved() {
      const all = JSON.parse(localStorage.getItem(SAVED_KEY) || "{}");
      saved.replaceChildren(el("option", { value: "", text: "(none)" }));
      for (const name of Object.keys(all).sort()) {
        saved.append(el("option", { value: name, text: name }));
      }
    }

    function statistics(described) {
      const s = described.QueryStatistics || {};
      const parts = [`Status: ${described.QueryStatus}`];
      if (s.EventsMatched !== undefined) parts.push(`${s.EventsMatched} events matched`);
      if (s.EventsScanned !== undefined) parts.push(`${s.EventsScanned} scanned`);
      if (s.BytesScanned !== undefined) parts.push(`${s.BytesScanned} bytes`);
      if (s.ExecutionTimeInMillis !== undefined) parts.push(`${s.ExecutionTimeInMillis} ms`);
      if (described.ErrorMessage) parts.push(described.ErrorMessage);
      return parts.join(" · ");
    }

    async function showPage() {
      const body = { QueryId: current.id, MaxQueryResults: 50 };
      const token = current.tokens[current.page];
      if (token) body.NextToken = token;
      const answer = await api("GetQueryResults", body);
      const rows = answer.QueryResultRows || [];
      const head = document.querySelector("#results thead");
      const tbody = document.querySelector("#results tbody");
      const labels = rows.length ? rows[0].map((cell) => Object.keys(cell)[0]) : [];
      head.replaceChildren(el("tr", {}, ...labels.map((label) => el("th", { scope: "col", text: label }))));
      tbody.replaceChildren(...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", { text: Object.values(cell)[0] })))));
      current.tokens[current.page + 1] = answer.NextToken || null;
      previous.disabled = current.page === 0;
      next.disabled = !answer.NextToken;
      pageNumber.textContent = `Page ${current.page + 1}`;
      results.hidden = false;
      applyFilter();
    }

    function applyFilter() {
      const wanted = filter.value.toLowerCase();
      for (const row of document.querySelectorAll("#results tbody tr")) {
        row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
      }
    }

    async function follow(queryId) {
      running = queryId;
      cancel.disabled = false;
      for (;;) {
        const described = await api("DescribeQuery", { QueryId: queryId, EventDataStore: storeSelect.value });
        setStatus(statistics(described), described.QueryStatus === "FAILED" || described.QueryStatus === "TIMED_OUT");
        if (described.QueryStatus !== "QUEUED" && described.QueryStatus !== "RUNNING") {
          running = null;
          cancel.disabled = true;
          if (described.QueryStatus === "FINISHED") {
            current = { id: queryId, tokens: [null], page: 0 };
            await showPage();
          }
          loadHistory();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }

    async function loadHistory() {
      if (!storeSelect.value) return;
      try {
        const answer = await api("ListQueries", { EventDataStore: storeSelect.value, MaxResults: 20 });
        const tbody = document.querySelector("#history tbody");
        tbody.replaceChildren(...(answer.Queries || []).map((q) => {
          const open = el("button", { type: "button", class: "link", text: q.QueryId });
          open.addEventListener("click", () => follow(q.QueryId).catch((e) => setStatus(e.message, true)));
          return el("tr", {}, el("td", {}, open), el("td", { text: q.QueryStatus }), el("td", { text: isoTime(q.CreationTime) }));
        }));
      } catch (error) {
        setStatus(error.message, true);
      }
    }

    for (const [name, sql] of SAMPLES) {
      samples.append(el("option", { value: sql, text: name }));
    }
    samples.addEventListener("change", () => {
      if (samples.value) query.value = samples.value.replace("$EDS", storeSelect.value || "<store ID>");
    });
    storeSelect.addEventListener("change", storeChanged);
    document.getElementById("copy-id").addEventListener("click", () => {
      storeId.select();
      if (navigator.clipboard) navigator.clipboard.writeText(storeId.value).catch(() => {});
    });
    run.addEventListener("click", async () => {
      results.hidden = true;
      setStatus("Starting…");
      try {
        const started = await api("StartQuery", { QueryStatement: query.value });
        await follow(started.QueryId);
      } catch (error) {
        setStatus(error.message, true);
      }
    });
    cancel.addEventListener("click", () => {
      if (running) api("CancelQuery", { QueryId: running, EventDataStore: storeSelect.value }).catch((e) => setStatus(e.message, true));
    });
    previous.addEventListener("click", () => {
      current.page -= 1;
      showPage().catch((e) => setStatus(e.message, true));
    });
    next.addEventListener("click", () => {
      current.page += 1;
      showPage().catch((e) => setStatus(e.message, true));
    });
    filter.addEventListener("input", applyFilter);
    document.getElementById("download-results").addEventListener("click", async () => {
      const lines = [];
      let token = null;
      do {
        const body = { QueryId: current.id, MaxQueryResults: 1000 };
        if (token) body.NextToken = token;
        const answer = await api("GetQueryResults", body);
        for (const row of answer.QueryResultRows || []) {
          if (lines.length === 0) lines.push(row.map((cell) => csvCell(Object.keys(cell)[0])).join(","));
          lines.push(row.map((cell) => csvCell(Object.values(cell)[0])).join(","));
        }
        token = answer.NextToken;
      } while (token);
      download(`${current.id}.csv`, "text/csv", lines.join("\r\n") + "\r\n");
    });
    document.getElementById("save-query").addEventListener("click", () => {
      const name = document.getElementById("query-name").value.trim();
      if (!name) return;
      const all = JSON.parse(localStorage.getItem(SAVED_KEY) || "{}");
      all[name] = query.value;
      localStorage.setItem(SAVED_KEY, JSON.stringify(all));
      showSaved();
      saved.value = name;
    });
    saved.addEventListener("change", () => {
      const all = JSON.parse(localStorage.getItem(SAVED_KEY) || "{}");
      if (saved.value in all) query.value = all[saved.value];
    });
    showSaved();
    loadStores().catch((error) => setStatus(error.message, true));
  }

  // ---- Trails --------------------------------------------------------------------------

  function trailsPage() {
    const readOnly = meta("cairn-read-only") === "true";
    const form = document.getElementById("trail-form");
    const error = document.getElementById("trail-error");
    const submit = document.getElementById("trail-submit");
    const title = document.getElementById("trail-form-title");
    const fresh = document.getElementById("trail-new");
    let editing = null;
    form.hidden = readOnly;

    function showError(message) {
      error.textContent = message || "";
      error.hidden = !message;
    }

    function edit(trail) {
      editing = trail ? trail.Name : null;
      form.elements.name.value = trail ? trail.Name : "";
      form.elements.name.readOnly = Boolean(trail);
      form.elements.bucket.value = trail ? trail.S3BucketName || "" : "";
      form.elements.prefix.value = trail ? trail.S3KeyPrefix || "" : "";
      form.elements.multi_region.checked = trail ? Boolean(trail.IsMultiRegionTrail) : false;
      form.elements.validation.checked = trail ? Boolean(trail.LogFileValidationEnabled) : true;
      title.textContent = trail ? `Edit trail ${trail.Name}` : "Create trail";
      submit.textContent = trail ? "Save changes" : "Create trail";
      fresh.hidden = !trail;
      showError("");
    }

    async function act(operation, body) {
      try {
        await api(operation, body);
        await load();
      } catch (e) {
        showError(e.message);
        setStatus(e.message, true);
      }
    }

    async function load() {
      setStatus("Loading…");
      const answer = await api("DescribeTrails", { includeShadowTrails: false });
      const tbody = document.querySelector("#trails tbody");
      const rows = [];
      for (const trail of answer.trailList || []) {
        const status = await api("GetTrailStatus", { Name: trail.TrailARN });
        const when = (t) => (t ? isoTime(t) : "");
        const actions = el("td", { class: "actions" });
        if (!readOnly) {
          const logging = el("button", { type: "button", text: status.IsLogging ? "Stop logging" : "Start logging" });
          logging.addEventListener("click", () => act(status.IsLogging ? "StopLogging" : "StartLogging", { Name: trail.TrailARN }));
          const change = el("button", { type: "button", text: "Edit" });
          change.addEventListener("click", () => edit(trail));
          const remove = el("button", { type: "button", text: "Delete" });
          remove.addEventListener("click", () => {
            if (remove.textContent === "Delete") {
              remove.textContent = "Confirm delete";
              return;
            }
            act("DeleteTrail", { Name: trail.TrailARN });
          });
          actions.append(logging, change, remove);
        }
        rows.push(el("tr", { "data-trail": trail.Name },
          el("td", { class: "name", text: trail.Name }),
          el("td", { text: trail.HomeRegion || "" }),
          el("td", { text: trail.S3BucketName || "" }),
          el("td", { class: "logging", text: status.IsLogging ? "Logging" : "Not logging" }),
          el("td", { text: when(status.LatestDeliveryTime) }),
          el("td", { text: status.LatestDeliveryError || "" }),
          el("td", { text: when(status.LatestDigestDeliveryTime) }),
          actions));
      }
      tbody.replaceChildren(...rows);
      setStatus(rows.length ? `${rows.length} trails.` : "No trails in this region.");
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {
        Name: form.elements.name.value.trim(),
        S3BucketName: form.elements.bucket.value.trim(),
        IsMultiRegionTrail: form.elements.multi_region.checked,
        EnableLogFileValidation: form.elements.validation.checked,
      };
      if (form.elements.prefix.value.trim()) body.S3KeyPrefix = form.elements.prefix.value.trim();
      try {
        await api(editing ? "UpdateTrail" : "CreateTrail", body);
        edit(null);
        await load();
      } catch (err) {
        showError(err.message);
      }
    });
    fresh.addEventListener("click", () => edit(null));
    load().catch((e) => setStatus(e.message, true));
  }

  const main = document.querySelector("main[data-page]");
  const pageName = main ? main.getAttribute("data-page") : "";
  if (pageName === "events") eventsPage();
  if (pageName === "event") eventPage();
  if (pageName === "lake") lakePage();
  if (pageName === "trails") trailsPage();
})();
