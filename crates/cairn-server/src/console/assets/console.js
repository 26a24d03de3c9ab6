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
    if (!response.ok) {
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
    return {
      attribute: p.get("attribute") || "",
      value: p.get("value") || "",
      range,
      start,
      end,
    };
  }

  // LookupEvents' request for a filter (without paging).
  function lookupRequest(filter) {
    const request = { MaxResults: 50 };
    if (filter.attribute && filter.value !== "") {
      request.LookupAttributes = [
        { AttributeKey: filter.attribute, AttributeValue: filter.value },
      ];
    }
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

  function eventRow(event) {
    const resource = (event.Resources || [])[0] || {};
    const expand = el("button", {
      type: "button",
      class: "expand",
      "aria-expanded": "false",
      "aria-label": `Show the record of ${event.EventName}`,
      text: "▸",
    });
    const link = el("a", {
      href: `/console/events/${encodeURIComponent(event.EventId)}`,
      text: event.EventName || "",
    });
    const row = el(
      "tr",
      { class: "event", "data-event-id": event.EventId, tabindex: "0" },
      el("td", {}, expand),
      el("td", { class: "name" }, link),
      el("td", { class: "time", text: isoTime(event.EventTime) }),
      el("td", { class: "user", text: event.Username || "" }),
      el("td", { class: "source", text: event.EventSource || "" }),
      el("td", { text: resource.ResourceType || "" }),
      el("td", { text: resource.ResourceName || "" })
    );
    let detail = null;
    const toggle = () => {
      if (detail) {
        detail.remove();
        detail = null;
        expand.setAttribute("aria-expanded", "false");
        expand.textContent = "▸";
        return;
      }
      detail = el(
        "tr",
        { class: "detail" },
        el("td", { colspan: "7" }, el("pre", { class: "record", text: recordText(event) }))
      );
      row.after(detail);
      expand.setAttribute("aria-expanded", "true");
      expand.textContent = "▾";
    };
    expand.addEventListener("click", toggle);
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target === row) toggle();
      if (e.key === "ArrowDown" && row.nextElementSibling) row.nextElementSibling.focus();
      if (e.key === "ArrowUp" && row.previousElementSibling) row.previousElementSibling.focus();
    });
    return row;
  }

  function eventsPage() {
    const form = document.getElementById("filters");
    const tbody = document.querySelector("#events tbody");
    const more = document.getElementById("more");
    let nextToken = null;
    let request = null;
    let shown = 0;
    let loading = 0;

    function showFilter(filter) {
      form.attribute.value = filter.attribute;
      form.value.value = filter.value;
      form.range.value = filter.range;
      form.start.value = filter.start;
      form.end.value = filter.end;
      document.querySelectorAll(".custom").forEach((label) => {
        label.hidden = filter.range !== "custom";
      });
    }

    async function page() {
      const mine = ++loading;
      setStatus("Loading…");
      more.hidden = true;
      try {
        const body = Object.assign({}, request);
        if (nextToken) body.NextToken = nextToken;
        const answer = await api("LookupEvents", body);
        if (mine !== loading) return;
        for (const event of answer.Events || []) {
          tbody.append(eventRow(event));
          shown += 1;
        }
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
      tbody.replaceChildren();
      shown = 0;
      nextToken = null;
      try {
        request = lookupRequest(filter);
      } catch (error) {
        setStatus(error.message, true);
        return;
      }
      page();
    }

    form.range.addEventListener("change", () => {
      document.querySelectorAll(".custom").forEach((label) => {
        label.hidden = form.range.value !== "custom";
      });
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      if (params().get("region")) p.set("region", params().get("region"));
      if (form.attribute.value && form.value.value !== "") {
        p.set("attribute", form.attribute.value);
        p.set("value", form.value.value);
      }
      if (form.range.value === "custom") {
        if (form.start.value) p.set("start", form.start.value.trim());
        if (form.end.value) p.set("end", form.end.value.trim());
      } else if (form.range.value !== "all") {
        p.set("range", form.range.value);
      }
      const query = p.toString();
      window.history.pushState(null, "", query ? `?${query}` : window.location.pathname);
      load();
    });
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

  const main = document.querySelector("main[data-page]");
  const pageName = main ? main.getAttribute("data-page") : "";
  if (pageName === "events") eventsPage();
  if (pageName === "event") eventPage();
})();
