// Evident care console: one page, hash routes, every read and write through the /v1 API.
//
// The API key lives in sessionStorage only (gone when the tab closes) and goes out as
// `Authorization: Bearer` on every call. What the page offers follows the key's role, which
// /console/api/whoami reports: analysts get personal data masked by the API and no actions.
// After a command the page re-reads with `min_position` set to the command's log position,
// so what it shows already includes the change (read-your-writes). All DOM is built with
// createElement/textContent: nothing the API returns is ever parsed as HTML.
"use strict";

(() => {
  const KEY = "evident.console.key";
  const STATUSES = ["on_hold", "open", "partially_shipped", "shipped", "delivered", "cancelled"];
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const view = () => document.getElementById("view");
  let who = null; // {actor, role, masked, can_write}
  let renderToken = 0;
  let lastPage = "";
  let formSeq = 0;
  let lastPlacement = null; // {customerId, placed}: the answer to show after re-reading

  // --- tiny DOM helpers ---------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const uid = (name) => `f${++formSeq}-${name}`;
  const link = (href, text, attrs) => h("a", { href, ...attrs }, text);
  const shortId = (id) => String(id).slice(0, 8);
  const badge = (text, kind) => h("span", { class: `badge ${kind || text}` }, text.replaceAll("_", " "));

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return h("time", { datetime: iso, title: iso }, date.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit",
    }));
  }

  function table(headers, rows, attrs) {
    return h("div", { class: "table-wrap" }, h("table", attrs || {},
      h("thead", {}, h("tr", {}, headers.map((head) => h("th", { scope: "col" }, head)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "nothing here")))));
  }

  function field(label, input, hint) {
    const id = input.id || uid(input.name || "field");
    input.id = id;
    return h("div", { class: "field" }, h("label", { for: id }, label), input,
      hint ? h("small", {}, hint) : null);
  }

  const input = (name, attrs) => h("input", { name, ...attrs });
  const select = (name, options, attrs) => h("select", { name, ...attrs },
    options.map((o) => (Array.isArray(o) ? h("option", { value: o[0] }, o[1]) : h("option", { value: o }, o))));

  function flash(message, kind) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = `flash ${kind || "ok"}`;
    box.hidden = !message;
  }

  // --- the API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem || {};
    }
  }

  async function api(method, path, options) {
    const { body, params } = options || {};
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
    if (response.status === 401 && who) { signOut("Your key was not accepted any more; sign in again."); }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  async function allPages(path, params, max) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < (max || 20); page++) {
      const data = await api("GET", path, { params: { ...params, limit: 500, cursor } });
      items.push(...data.items);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  function errorBox(error) {
    const problem = error.problem || {};
    return h("div", { class: "error", role: "alert" },
      h("strong", {}, `${error.status ? `${error.status} ` : ""}${problem.title || "Refused"}: `),
      problem.detail || error.message,
      problem.errors && problem.errors.length
        ? h("ul", {}, problem.errors.map((e) => h("li", {}, `${e.field}: ${e.message}`))) : null);
  }

  // --- sign-in and role ---------------------------------------------------------------------

  async function signIn(key) {
    sessionStorage.setItem(KEY, key);
    try {
      who = await api("GET", "/console/api/whoami");
    } catch (error) {
      sessionStorage.removeItem(KEY);
      who = null;
      throw error;
    }
    document.body.dataset.role = who.role;
    document.getElementById("who-name").textContent = who.actor;
    const role = document.getElementById("who-role");
    role.textContent = who.masked ? `${who.role} · masked · read only`
      : who.can_write ? who.role : `${who.role} · read only`;
    role.className = `badge role-${who.role}`;
    document.getElementById("who").hidden = false;
    document.getElementById("nav").hidden = false;
    document.getElementById("sign-in").hidden = true;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    who = null;
    delete document.body.dataset.role;
    document.getElementById("who").hidden = true;
    document.getElementById("nav").hidden = true;
    view().replaceChildren();
    const errorEl = document.getElementById("sign-in-error");
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
    document.getElementById("sign-in").hidden = false;
    document.getElementById("api-key").value = "";
    document.getElementById("api-key").focus();
  }

  // --- routing ------------------------------------------------------------------------------

  function parseHash() {
    const raw = window.location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    const parts = path.split("/").filter(Boolean);
    return { name: parts[0] || "search", id: parts[1] ? decodeURIComponent(parts[1]) : null,
      params: new URLSearchParams(query || "") };
  }

  async function route() {
    if (!who) return;
    const token = ++renderToken;
    const { name, id, params } = parseHash();
    if (`${name}/${id}` !== lastPage) flash(""); // a message belongs to the page it is about
    lastPage = `${name}/${id}`;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const target = view();
    target.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    const page = { token, stale: () => token !== renderToken };
    try {
      if (name === "order" && id) await orderPage(page, id, params);
      else if (name === "customer" && id) await customerPage(page, id);
      else if (name === "queue") await queuePage(page, params);
      else await searchPage(page, params);
    } catch (error) {
      if (page.stale()) return;
      target.replaceChildren(h("h1", { tabindex: "-1" }, "Could not load this page"), errorBox(error));
    }
  }

  function show(page, ...children) {
    if (page.stale()) return false;
    view().replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
    const heading = view().querySelector("h1");
    if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
    return true;
  }

  // --- search -------------------------------------------------------------------------------

  const searchCursors = new Map(); // query key → cursor stack, for Previous

  async function searchPage(page, params) {
    const by = params.get("by") || (who.masked ? "order" : "customer");
    const q = (params.get("q") || "").trim();
    const cursor = params.get("cursor") || "";
    const kinds = [["customer", "Customer name or email"], ["order", "Order id"], ["sku", "SKU"],
      ["status", "Status"], ["customer_id", "Customer id (orders)"]].filter(([k]) => !(who.masked && k === "customer"));
    const bySelect = select("by", kinds, { id: "search-by" });
    bySelect.value = by;
    const queryInput = input("q", { id: "search-q", type: "search", value: q, autocomplete: "off",
      placeholder: "e.g. jo@example.com, a UUID, TEE-L-BLK" });
    const statusSelect = select("status", STATUSES, { id: "search-status" });
    if (by === "status" && q) statusSelect.value = q;
    const queryField = field("Search for", queryInput);
    const statusField = field("Status", statusSelect);
    const sync = () => { queryField.hidden = bySelect.value === "status"; statusField.hidden = bySelect.value !== "status"; queryInput.required = bySelect.value !== "status"; };
    bySelect.addEventListener("change", sync);
    sync();
    const form = h("form", { class: "search", role: "search", onsubmit: (event) => {
      event.preventDefault();
      const value = bySelect.value === "status" ? statusSelect.value : queryInput.value.trim();
      if (bySelect.value === "order" && UUID_RE.test(value)) { window.location.hash = `#/order/${value}`; return; }
      const next = new URLSearchParams({ by: bySelect.value, q: value });
      window.location.hash = `#/search?${next}`;
    } }, field("Search by", bySelect), queryField, statusField, h("button", { type: "submit" }, "Search"));

    const results = h("div", { id: "results" });
    const header = [h("h1", { tabindex: "-1" }, "Find a customer or order"), form, results];
    if (!q) {
      if (!show(page, ...header)) return;
      results.append(h("p", { class: "hint" }, who.masked
        ? "As an analyst you see personal data masked and cannot search by it; search by order id, SKU or status."
        : "Search by a customer's name or email, an order id, a SKU or an order status."));
      return;
    }
    const stackKey = `${by}:${q}`;
    const stack = searchCursors.get(stackKey) || [];
    if (!cursor) stack.length = 0;
    searchCursors.set(stackKey, stack);
    const pager = (data) => {
      const previous = stack.length ? stack[stack.length - 1] : null;
      const nav = h("nav", { class: "pager", "aria-label": "Pages" });
      if (cursor) nav.append(h("button", { type: "button", onclick: () => {
        stack.pop();
        window.location.hash = `#/search?${new URLSearchParams({ by, q, ...(previous !== null && previous !== "" ? { cursor: previous } : {}) })}`;
      } }, "← Previous"));
      nav.append(h("span", {}, `Page ${stack.length + 1}`));
      if (data.next_cursor) nav.append(h("button", { type: "button", onclick: () => {
        stack.push(cursor);
        window.location.hash = `#/search?${new URLSearchParams({ by, q, cursor: data.next_cursor })}`;
      } }, "Next →"));
      return nav;
    };
    if (by === "order") {
      if (!UUID_RE.test(q)) throw new ApiError(0, { title: "Not an order id", detail: "an order id is a UUID" });
      window.location.hash = `#/order/${q}`;
      return;
    }
    if (by === "customer") {
      const data = await api("GET", "/console/api/customers", { params: { q, cursor, limit: 20 } });
      if (!show(page, ...header)) return;
      results.append(h("h2", {}, `Customers matching “${q}”`), table(["Name", "Email", "Orders", ""],
        data.items.map((c) => h("tr", {},
          h("td", {}, link(`#/customer/${c.id}`, c.name)), h("td", {}, c.email), h("td", { class: "num" }, c.orders),
          h("td", {}, link(`#/search?${new URLSearchParams({ by: "customer_id", q: c.id })}`, `Orders of ${c.name}`))))),
      pager(data));
      return;
    }
    const filter = by === "sku" ? { sku: q } : by === "status" ? { status: q } : { customer_id: q };
    const data = await api("GET", "/v1/orders", { params: { ...filter, cursor, limit: 25 } });
    if (!show(page, ...header)) return;
    const title = by === "customer_id" ? h("span", {}, "Orders of customer ", link(`#/customer/${q}`, shortId(q)))
      : `Orders with ${by === "sku" ? "SKU" : "status"} ${q}`;
    results.append(h("h2", {}, title), ordersTable(data.items), pager(data));
  }

  function ordersTable(orders) {
    return table(["Order", "Placed", "Status", "Payment", "Channel", "Lines", "Ordered", "Balance due"],
      orders.map((o) => h("tr", {},
        h("td", {}, link(`#/order/${o.id}`, shortId(o.id), { title: o.id, class: "mono" })),
        h("td", {}, when(o.placed_at)), h("td", {}, badge(o.status)), h("td", {}, badge(o.payment_status)),
        h("td", {}, o.channel),
        h("td", {}, o.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", ")),
        h("td", { class: "num" }, `${o.currency} ${o.totals.ordered}`),
        h("td", { class: "num" }, `${o.currency} ${o.totals.balance_due}`))));
  }

  // --- order page ---------------------------------------------------------------------------

  async function orderPage(page, id, params) {
    const asOf = params.get("as_of") || "";
    const minPosition = params.get("min_position") || "";
    const read = { min_position: minPosition };
    const [order, timeline, careInfo, invoices] = await Promise.all([
      api("GET", `/v1/orders/${id}`, { params: asOf ? { as_of: asOf } : read }),
      allPages(`/v1/orders/${id}/timeline`, read),
      api("GET", `/console/api/orders/${id}/care`, { params: read }),
      allPages("/v1/invoices", { order_id: id, ...read }),
    ]);
    const cutoff = asOf ? new Date(asOf).getTime() : null;
    const before = (iso) => cutoff === null || new Date(iso).getTime() <= cutoff;
    const events = timeline.filter((e) => before(e.recorded_at));
    const documents = invoices.filter((i) => before(i.issued_at));
    const acting = who.can_write && !asOf;
    const reload = (position) => {
      const next = new URLSearchParams({ min_position: String(position) });
      const target = `#/order/${id}?${next}`;
      if (window.location.hash === target) route(); else window.location.hash = target;
    };
    const cur = order.currency;
    const money = (amount) => `${cur} ${amount}`;

    const header = h("div", { class: "page-head" },
      h("h1", { tabindex: "-1" }, "Order ", h("span", { class: "mono", title: order.id }, shortId(order.id))),
      h("div", { class: "statuses" }, badge(order.status), badge(order.payment_status),
        h("span", { class: "meta" }, `placed `, when(order.placed_at), ` via ${order.channel} · version ${order.version} · customer `,
          link(`#/customer/${order.customer_id}`, shortId(order.customer_id), { class: "mono", title: order.customer_id }))));

    const asOfForm = asOfPicker(id, asOf, order.placed_at);
    const banner = asOf ? h("div", { class: "as-of-banner", role: "note" },
      "Showing the order as it was at ", when(asOf), ". Actions are off; ",
      link(`#/order/${id}`, "back to now"), ".") : null;

    const totalNames = ["ordered", "cancelled", "tax", "captured", "refunded", "balance_due"];
    const totals = h("dl", { class: "totals" }, totalNames.filter((k) => k in order.totals).map((k) =>
      [h("dt", {}, k.replaceAll("_", " ")), h("dd", { "data-total": k }, money(order.totals[k]))]));

    const lines = table(["Line", "SKU", "Ordered", "Unit price", "Allocated (where)", "Backordered", "Cancelled", "Shipped", "Returned"],
      order.lines.map((l) => h("tr", { "data-line": l.line_id },
        h("td", {}, l.line_id), h("td", { class: "mono" }, l.sku), h("td", { class: "num" }, l.quantity),
        h("td", { class: "num" }, money(l.unit_price)),
        h("td", {}, l.allocated.length ? l.allocated.map((a) => `${a.quantity} @ ${a.location_id}`).join(", ") : "—"),
        h("td", { class: "num", "data-col": "backordered" }, l.backordered),
        h("td", { class: "num", "data-col": "cancelled" }, l.cancelled),
        h("td", { class: "num", "data-col": "shipped" }, l.shipped),
        h("td", { class: "num", "data-col": "returned" }, l.returned))), { id: "lines" });

    const paymentEvents = events.filter((e) => /Payment|Authorization|Refund|Adjustment/.test(e.type));
    const payments = h("section", { class: "card", "aria-labelledby": "payments-h" },
      h("h2", { id: "payments-h" }, "Payments"), h("p", {}, "Payment status ", badge(order.payment_status)), totals,
      paymentEvents.length ? h("ul", { class: "plain" }, paymentEvents.map((e) => h("li", {}, when(e.recorded_at), " ", e.summary))) : null);

    const shipments = h("section", { class: "card", "aria-labelledby": "shipments-h" }, h("h2", { id: "shipments-h" }, "Shipments"),
      table(["Shipment", "From", "Carrier", "Tracking", "Status"], order.shipments.map((s) => h("tr", {},
        h("td", { class: "mono", title: s.shipment_id }, shortId(s.shipment_id)), h("td", {}, s.location_id),
        h("td", {}, s.carrier), h("td", { class: "mono" }, s.tracking_number), h("td", {}, badge(s.status))))));

    const holds = asOf ? null : h("section", { class: "card", "aria-labelledby": "holds-h" }, h("h2", { id: "holds-h" }, "Holds"),
      careInfo.holds.length ? h("ul", { class: "plain" }, careInfo.holds.map((hold) => h("li", { class: "hold" },
        badge(hold.type, "hold"), ` ${hold.reason} · since `, when(hold.since),
        acting ? releaseForm(id, hold, reload) : null))) : h("p", { class: "empty" }, "No open hold."));

    const returnEvents = events.filter((e) => e.type.startsWith("Order.Return"));
    const returns = h("section", { class: "card", "aria-labelledby": "returns-h" }, h("h2", { id: "returns-h" }, "Returns"),
      !asOf && careInfo.returns.length ? h("ul", { class: "plain" }, careInfo.returns.map((ret) => h("li", { class: "return" },
        h("div", {}, badge(ret.status), ` ${ret.lines.map((l) => `${l.quantity} × line ${l.line_id}`).join(", ")} — ${ret.reason} · requested `, when(ret.requested_at)),
        acting ? returnActions(id, order, ret, reload) : null))) : h("p", { class: "empty" }, asOf ? "" : "No open return."),
      returnEvents.length ? h("details", {}, h("summary", {}, `Return history (${returnEvents.length})`),
        h("ul", { class: "plain" }, returnEvents.map((e) => h("li", {}, when(e.recorded_at), " ", e.summary)))) : null);

    const docs = h("section", { class: "card", "aria-labelledby": "invoices-h" }, h("h2", { id: "invoices-h" }, "Invoices and credit memos"),
      table(["Number", "Kind", "Issued", "Subtotal", "Tax", "Total"], documents.map((d) => h("tr", {},
        h("td", { class: "mono" }, d.number), h("td", {}, badge(d.kind)), h("td", {}, when(d.issued_at)),
        h("td", { class: "num" }, `${d.currency} ${d.subtotal}`), h("td", { class: "num" }, `${d.currency} ${d.tax}`),
        h("td", { class: "num" }, `${d.currency} ${d.total}`)))));

    const actions = acting ? orderActions(id, order, reload) : null;
    const layout = h("div", { class: "order-grid" },
      h("div", { class: "main-col" },
        h("section", { class: "card", "aria-labelledby": "lines-h" }, h("h2", { id: "lines-h" }, "Lines"), lines),
        h("div", { class: "two" }, payments, shipments), h("div", { class: "two" }, holds, returns), docs,
        timelineSection(events)),
      actions ? h("aside", { class: "side-col", "aria-label": "Actions" }, actions) : null);
    show(page, header, asOfForm, banner, layout);
  }

  function asOfPicker(id, asOf, placedAt) {
    const pad = (n) => String(n).padStart(2, "0");
    const local = (iso) => { const d = new Date(iso); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };
    const picker = input("as_of", { id: "as-of", type: "datetime-local", step: "1", required: true, value: asOf ? local(asOf) : "", min: placedAt ? local(placedAt) : null });
    return h("form", { class: "as-of", onsubmit: (event) => {
      event.preventDefault();
      if (!picker.value) return;
      const moment = new Date(picker.value); // local wall time → an instant
      window.location.hash = `#/order/${id}?${new URLSearchParams({ as_of: moment.toISOString() })}`;
    } }, field("Show the order as it was at (your local time)", picker),
    h("button", { type: "submit" }, "Show as of"),
    asOf ? link(`#/order/${id}`, "Live", { class: "button quiet" }) : null);
  }

  function timelineSection(events) {
    // Newest first; the events one command caused stay together under that command.
    const groups = [];
    const byCommand = new Map();
    for (const event of events) {
      let group = byCommand.get(event.command_id);
      if (!group) { group = { command_id: event.command_id, events: [] }; byCommand.set(event.command_id, group); groups.push(group); }
      group.events.push(event);
    }
    groups.sort((a, b) => b.events[0].position - a.events[0].position);
    return h("section", { class: "card", "aria-labelledby": "timeline-h" },
      h("h2", { id: "timeline-h" }, `Timeline (${events.length} events, newest first)`),
      h("ol", { class: "timeline", id: "timeline" }, groups.map((group) => {
        const first = group.events[0];
        const reason = group.events.map((e) => e.reason).find((r) => r);
        return h("li", { class: "command", "data-command": group.command_id },
          h("div", { class: "when" }, when(first.recorded_at)),
          h("div", { class: "body" },
            h("div", { class: "who-line" }, h("strong", {}, first.actor), ` (${first.role}) via ${first.channel}`,
              h("span", { class: "type" }, first.type)),
            h("p", { class: "what" }, first.summary),
            reason ? h("p", { class: "why" }, "Reason: ", h("q", {}, reason)) : null,
            group.events.length > 1 ? h("ul", { class: "caused" }, group.events.slice(1).map((e) =>
              h("li", {}, h("span", { class: "type" }, e.type), " ", e.summary, e.reason && e.reason !== reason ? ` — ${e.reason}` : ""))) : null,
            h("small", { class: "mono cmd", title: "command id" }, `command ${shortId(group.command_id)} · position ${first.position}`)));
      })));
  }

  // --- order actions ------------------------------------------------------------------------

  // An action form: builds the request from the form on submit, shows the API's refusal in
  // place, and on success re-reads the order at the command's position.
  function actionForm(title, fields, submit, reload, attrs) {
    const errors = h("div", { class: "form-errors" });
    const form = h("form", { class: "action", ...(attrs || {}) }, fields, errors);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = event.submitter || form.querySelector("button[type=submit]");
      const buttons = form.querySelectorAll("button");
      buttons.forEach((b) => { b.disabled = true; });
      errors.replaceChildren();
      try {
        const request = submit(new FormData(form), button);
        if (!request) return;
        const result = await api(request.method || "POST", request.path, { body: request.body });
        flash(`${request.done || title}: done (log position ${result.position}).`, "ok");
        reload(result.position, result);
      } catch (error) {
        errors.replaceChildren(errorBox(error));
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
    return title ? h("details", { class: "action-box", "data-action": attrs && attrs["data-name"] }, h("summary", {}, title), form) : form;
  }

  const reasonField = (required, label) => field(label || "Reason", input("reason", { required: required || null, maxlength: 500, autocomplete: "off" }));
  const amountField = (label) => field(label || "Amount", input("amount", { required: true, inputmode: "decimal", pattern: "^\\d+(\\.\\d{1,4})?$", autocomplete: "off", placeholder: "59.90" }));

  function lineQuantities(data, prefix) {
    const lines = [];
    for (const [name, value] of data.entries()) {
      if (name.startsWith(prefix) && Number(value) > 0) lines.push({ line_id: name.slice(prefix.length), quantity: Number(value) });
    }
    return lines;
  }

  function lineInputs(order, prefix, max, legend) {
    const rows = order.lines.filter((l) => max(l) > 0);
    if (!rows.length) return h("p", { class: "empty" }, "No line qualifies.");
    return h("fieldset", {}, h("legend", {}, legend), rows.map((l) => field(
      `Line ${l.line_id} · ${l.sku} (up to ${max(l)})`,
      input(`${prefix}${l.line_id}`, { type: "number", min: 0, max: max(l), value: 0, inputmode: "numeric" }))));
  }

  function orderActions(id, order, reload) {
    const base = `/v1/orders/${id}`;
    const unshipped = (l) => l.quantity - l.cancelled - l.shipped;
    const locations = [...new Set(order.lines.flatMap((l) => l.allocated.map((a) => a.location_id)))];
    const reservedAt = (l, loc) => l.allocated.filter((a) => a.location_id === loc).reduce((n, a) => n + a.quantity, 0);
    const reservedAnywhere = (l) => l.allocated.reduce((n, a) => n + a.quantity, 0);

    const cancel = actionForm("Cancel lines or the order", [
      lineInputs(order, "cancel-", unshipped, "Quantities to cancel"), reasonField(true),
      h("div", { class: "buttons" }, h("button", { type: "submit", name: "scope", value: "lines" }, "Cancel these quantities"),
        h("button", { type: "submit", name: "scope", value: "order", class: "danger" }, "Cancel everything unshipped")),
    ], (data, button) => {
      const whole = button && button.value === "order";
      const lines = lineQuantities(data, "cancel-");
      if (!whole && !lines.length) throw new ApiError(0, { title: "Nothing to cancel", detail: "enter a quantity on at least one line, or cancel everything unshipped" });
      return { path: `${base}/cancellations`, body: whole ? { reason: data.get("reason") } : { reason: data.get("reason"), lines },
        done: whole ? "Order cancelled" : "Lines cancelled" };
    }, reload, { "data-name": "cancel" });

    const address = actionForm("Change the shipping address", addressFields(), (data) =>
      ({ method: "PUT", path: `${base}/shipping-address`, body: addressBody(data), done: "Shipping address changed" }), reload, { "data-name": "address" });

    const hold = actionForm("Place a hold", [
      field("Hold type", select("type", ["manual", "fraud", "payment", "address"])), reasonField(true),
      h("button", { type: "submit" }, "Place hold"),
    ], (data) => ({ path: `${base}/holds`, body: { type: data.get("type"), reason: data.get("reason") }, done: "Hold placed" }), reload, { "data-name": "hold" });

    const authorize = actionForm("Authorize a payment", [
      amountField(), field("Provider", input("provider", { required: true, maxlength: 100 })),
      field("Provider reference", input("reference", { required: true, maxlength: 100 })),
      h("button", { type: "submit" }, "Record authorization"),
    ], (data) => ({ path: `${base}/payments/authorizations`, body: { amount: data.get("amount"), provider: data.get("provider"), reference: data.get("reference") }, done: "Payment authorized" }), reload, { "data-name": "authorize" });

    const capture = actionForm("Capture payment", [amountField(), h("button", { type: "submit" }, "Capture")],
      (data) => ({ path: `${base}/payments/captures`, body: { amount: data.get("amount") }, done: "Payment captured" }), reload, { "data-name": "capture" });

    const refund = actionForm("Refund", [amountField(), reasonField(true), h("button", { type: "submit" }, "Refund")],
      (data) => ({ path: `${base}/payments/refunds`, body: { amount: data.get("amount"), reason: data.get("reason") }, done: "Refunded" }), reload, { "data-name": "refund" });

    const ship = actionForm("Ship", locations.length ? [
      field("From location", select("location_id", locations)),
      lineInputs(order, "ship-", reservedAnywhere, "Quantities to ship (reserved at the chosen location)"),
      field("Carrier", input("carrier", { required: true, maxlength: 100 })),
      field("Tracking number", input("tracking_number", { required: true, maxlength: 100 })),
      h("button", { type: "submit" }, "Record shipment"),
    ] : [h("p", { class: "empty" }, "Nothing is reserved, so nothing can ship.")], (data) => {
      const lines = lineQuantities(data, "ship-").filter((l) => reservedAt(order.lines.find((x) => x.line_id === l.line_id), data.get("location_id")) > 0);
      return { path: `${base}/shipments`, body: { location_id: data.get("location_id"), lines, carrier: data.get("carrier"), tracking_number: data.get("tracking_number") }, done: "Shipped" };
    }, reload, { "data-name": "ship" });

    const requestReturn = actionForm("Request a return", [
      lineInputs(order, "return-", (l) => l.shipped - l.returned, "Shipped quantities to return"), reasonField(true),
      h("button", { type: "submit" }, "Request return"),
    ], (data) => ({ path: `${base}/returns`, body: { reason: data.get("reason"), lines: lineQuantities(data, "return-") }, done: "Return requested" }), reload, { "data-name": "return" });

    const goodwill = actionForm("Goodwill adjustment", [amountField("Credit amount"), reasonField(true), h("button", { type: "submit" }, "Credit")],
      (data) => ({ path: `${base}/adjustments`, body: { amount: data.get("amount"), reason: data.get("reason") }, done: "Goodwill credited" }), reload, { "data-name": "adjustment" });

    const note = actionForm("Add a note", [field("Note", h("textarea", { name: "text", required: true, rows: 3, maxlength: 2000 })), h("button", { type: "submit" }, "Add note")],
      (data) => ({ path: `${base}/notes`, body: { text: data.get("text") }, done: "Note added" }), reload, { "data-name": "note" });

    return h("section", { class: "card actions", "aria-labelledby": "actions-h" }, h("h2", { id: "actions-h" }, "Actions"),
      cancel, address, hold, authorize, capture, refund, ship, requestReturn, goodwill, note);
  }

  function releaseForm(id, hold, reload) {
    return actionForm(null, [field("Release reason", input("reason", { maxlength: 500, autocomplete: "off" })),
      h("button", { type: "submit" }, "Release hold")],
    (data) => ({ path: `/v1/orders/${id}/holds/${hold.hold_id}/release`, body: data.get("reason") ? { reason: data.get("reason") } : {}, done: "Hold released" }),
    reload, { class: "action inline", "data-name": "release" });
  }

  function returnActions(id, order, ret, reload) {
    const base = `/v1/orders/${id}/returns/${ret.return_id}`;
    const parts = [];
    if (ret.status === "requested") {
      parts.push(actionForm(null, [reasonField(false, "Decision reason"), h("div", { class: "buttons" },
        h("button", { type: "submit", name: "approved", value: "yes" }, "Approve"),
        h("button", { type: "submit", name: "approved", value: "no", class: "danger" }, "Reject"))],
      (data, button) => ({ path: `${base}/approval`, body: { approved: button.value === "yes", ...(data.get("reason") ? { reason: data.get("reason") } : {}) }, done: button.value === "yes" ? "Return approved" : "Return rejected" }),
      reload, { class: "action inline", "data-name": "decide" }));
    }
    if (ret.status === "approved") {
      parts.push(actionForm("Receive the goods", [
        field("Received at location", input("location_id", { required: true, maxlength: 64, placeholder: "berlin-dc" })),
        ret.lines.map((l) => h("fieldset", {}, h("legend", {}, `Line ${l.line_id}`),
          field("Quantity", input(`qty-${l.line_id}`, { type: "number", min: 0, max: l.quantity, value: l.quantity })),
          field("Condition", select(`cond-${l.line_id}`, ["resellable", "damaged"])))),
        h("button", { type: "submit" }, "Record receipt"),
      ], (data) => ({ path: `${base}/receipt`, body: { location_id: data.get("location_id"),
        lines: ret.lines.map((l) => ({ line_id: l.line_id, quantity: Number(data.get(`qty-${l.line_id}`)), condition: data.get(`cond-${l.line_id}`) })).filter((l) => l.quantity > 0) },
      done: "Return received" }), reload, { "data-name": "receive" }));
    }
    parts.push(actionForm("Refund this return", [amountField(), h("button", { type: "submit" }, "Refund return")],
      (data) => ({ path: `${base}/refund`, body: { amount: data.get("amount") }, done: "Return refunded" }), reload, { "data-name": "return-refund" }));
    return h("div", { class: "return-actions" }, parts);
  }

  function addressFields(prefill) {
    const p = prefill || {};
    return [
      field("Recipient name", input("name", { required: true, value: p.name, autocomplete: "off" })),
      field("Address line 1", input("line1", { required: true, value: p.line1, autocomplete: "off" })),
      field("Address line 2", input("line2", { value: p.line2, autocomplete: "off" })),
      h("div", { class: "row" },
        field("Postal code", input("postal_code", { required: true, value: p.postal_code, autocomplete: "off" })),
        field("City", input("city", { required: true, value: p.city, autocomplete: "off" }))),
      field("Country (ISO code)", input("country", { required: true, value: p.country, pattern: "[A-Z]{2}", maxlength: 2, placeholder: "DE" })),
      h("button", { type: "submit" }, "Save address"),
    ];
  }

  const addressBody = (data) => ({ name: data.get("name"), line1: data.get("line1"), ...(data.get("line2") ? { line2: data.get("line2") } : {}),
    city: data.get("city"), postal_code: data.get("postal_code"), country: data.get("country") });

  // --- customer page ------------------------------------------------------------------------

  async function customerPage(page, id) {
    const minPosition = new URLSearchParams(window.location.hash.split("?")[1] || "").get("min_position") || "";
    const dash = await api("GET", `/v1/customers/${id}/dashboard`, { params: { min_position: minPosition } });
    const c = dash.customer;
    const profile = h("section", { class: "card", "aria-labelledby": "profile-h" }, h("h2", { id: "profile-h" }, "Profile"),
      h("dl", { class: "facts" },
        h("dt", {}, "Name"), h("dd", { id: "customer-name" }, c.name || "—"),
        h("dt", {}, "Email"), h("dd", { id: "customer-email" }, c.email || "—"),
        h("dt", {}, "Phone"), h("dd", {}, c.phone || "—"),
        h("dt", {}, "Consents"), h("dd", {}, `email ${dash.consents.email ? "yes" : "no"} · sms ${dash.consents.sms ? "yes" : "no"}`),
        h("dt", {}, "Lifetime value"), h("dd", {}, Object.entries(dash.lifetime_value).map(([cur, v]) => `${cur} ${v}`).join(", ") || "—"),
        c.erased ? [h("dt", {}, "Erased"), h("dd", {}, "yes: personal data is gone")] : null),
      h("h3", {}, "Addresses"),
      h("ul", { class: "plain" }, c.addresses.map((a) => h("li", {}, h("strong", {}, a.label), `: ${[a.name, a.line1, a.line2, `${a.postal_code} ${a.city}`, a.country].filter(Boolean).join(", ")}`))));
    const orders = h("section", { class: "card", "aria-labelledby": "corders-h" }, h("h2", { id: "corders-h" }, `Orders (${dash.orders.length})`),
      table(["Order", "Placed", "Status", "Total"], dash.orders.map((o) => h("tr", {},
        h("td", {}, link(`#/order/${o.id}`, shortId(o.id), { class: "mono", title: o.id })), h("td", {}, when(o.placed_at)),
        h("td", {}, badge(o.status)), h("td", { class: "num" }, `${o.currency} ${o.total}`)))));
    const returns = h("section", { class: "card", "aria-labelledby": "creturns-h" }, h("h2", { id: "creturns-h" }, "Open returns"),
      table(["Order", "Status", "Reason", "Requested"], dash.open_returns.map((r) => h("tr", {},
        h("td", {}, link(`#/order/${r.order_id}`, shortId(r.order_id), { class: "mono" })), h("td", {}, badge(r.status)),
        h("td", {}, r.reason), h("td", {}, when(r.requested_at))))));
    const notes = h("section", { class: "card", "aria-labelledby": "cnotes-h" }, h("h2", { id: "cnotes-h" }, "Notes"),
      dash.notes.length ? h("ul", { class: "plain" }, dash.notes.map((n) => h("li", {}, when(n.at), ` ${n.author}: `, n.text))) : h("p", { class: "empty" }, "No notes."));
    const place = who.can_write && !c.erased ? placeOrderSection(id, c) : null;
    show(page, h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Customer ", h("span", {}, c.name || shortId(c.id))),
      h("span", { class: "meta mono" }, c.id)),
    h("div", { class: "order-grid" }, h("div", { class: "main-col" }, h("div", { class: "two" }, profile, notes), orders, returns),
      place ? h("aside", { class: "side-col", "aria-label": "Place an order" }, place) : null));
    const allocation = document.getElementById("allocation");
    if (allocation && allocation.childElementCount) allocation.focus();
  }

  function placeOrderSection(customerId, customer) {
    const result = h("div", { id: "allocation", "aria-live": "polite" });
    const lineRows = h("div", { class: "order-lines" });
    let lineCount = 0;
    const addLine = () => {
      lineCount += 1;
      const n = lineCount;
      lineRows.append(h("fieldset", { class: "order-line" }, h("legend", {}, `Line ${n}`),
        field("SKU", input(`sku-${n}`, { required: n === 1 || null, maxlength: 64, autocomplete: "off" })),
        h("div", { class: "row" },
          field("Quantity", input(`qty-${n}`, { type: "number", min: 1, value: 1, inputmode: "numeric" })),
          field("Unit price", input(`price-${n}`, { inputmode: "decimal", pattern: "^\\d+(\\.\\d{1,4})?$", placeholder: "19.90", required: n === 1 || null })),
          field("Tax rate", input(`tax-${n}`, { inputmode: "decimal", value: "0.19", pattern: "^0(\\.\\d+)?$|^1(\\.0+)?$" })))));
    };
    addLine();
    const addresses = customer.addresses || [];
    const addressBox = h("fieldset", {}, h("legend", {}, "Ship to"), addressFields(addresses[0]).slice(0, -1));
    const choose = addresses.length ? field("Use a saved address", select("saved", addresses.map((a, i) => [String(i), a.label]), {
      onchange: (event) => {
        const a = addresses[Number(event.target.value)];
        for (const name of ["name", "line1", "line2", "postal_code", "city", "country"]) {
          addressBox.querySelector(`[name=${name}]`).value = a[name] || "";
        }
      },
    })) : null;
    const form = actionForm(null, [
      h("div", { class: "row" }, field("Channel", select("channel", ["agent", "phone", "web", "store", "marketplace"])),
        field("Currency", input("currency", { required: true, value: "EUR", pattern: "[A-Z]{3}", maxlength: 3 }))),
      lineRows, h("button", { type: "button", class: "quiet", onclick: addLine }, "+ Add a line"),
      choose, addressBox, h("button", { type: "submit" }, "Place order"),
    ], (data) => {
      const lines = [];
      for (let n = 1; n <= lineCount; n++) {
        const sku = (data.get(`sku-${n}`) || "").trim();
        if (!sku) continue;
        lines.push({ sku, quantity: Number(data.get(`qty-${n}`)), unit_price: data.get(`price-${n}`), ...(data.get(`tax-${n}`) ? { tax_rate: data.get(`tax-${n}`) } : {}) });
      }
      return { path: "/v1/orders", body: { customer_id: customerId, channel: data.get("channel"), currency: data.get("currency"), lines, shipping_address: addressBody(data) }, done: "Order placed" };
    }, (position, placed) => {
      // Re-read the dashboard at the order's position (it then lists the new order) and
      // show what the placement answered: where each line ships from, what is backordered.
      lastPlacement = { customerId, placed };
      const target = `#/customer/${customerId}?min_position=${position}`;
      if (window.location.hash === target) route(); else window.location.hash = target;
    }, { "data-name": "place-order" });
    if (lastPlacement && lastPlacement.customerId === customerId) {
      showAllocation(result, lastPlacement.placed);
      lastPlacement = null;
    }
    return h("section", { class: "card actions", "aria-labelledby": "place-h" }, h("h2", { id: "place-h" }, "Place an order for ", customer.name || "this customer"),
      result, form);
  }

  function showAllocation(result, placed) {
    result.className = "allocation";
    result.setAttribute("tabindex", "-1");
    result.replaceChildren(h("h3", {}, "Allocation of the order just placed"),
      h("p", {}, "Order ", link(`#/order/${placed.id}`, shortId(placed.id), { class: "mono", id: "placed-order-link", title: placed.id }),
        " is ", badge(placed.status), "."),
      h("ul", { class: "plain allocated" }, placed.lines.map((l) => h("li", { "data-line": l.line_id, "data-backordered": l.backordered },
        h("strong", {}, `Line ${l.line_id}: ${l.quantity} × `), h("span", { class: "mono" }, l.sku),
        h("div", {}, l.allocated.length ? `ships ${l.allocated.map((a) => `${a.quantity} from ${a.location_id}`).join(", ")}` : "nothing reserved",
          l.backordered ? h("span", { class: "backordered" }, ` · ${l.backordered} backordered`) : null)))));
  }

  // --- work queue ---------------------------------------------------------------------------

  async function queuePage(page, params) {
    const sort = params.get("sort") || "since";
    const dir = params.get("dir") === "desc" ? "desc" : "asc";
    const kind = params.get("kind") || "";
    const items = await allPages("/v1/care/queue", { min_position: params.get("min_position") || "" });
    const kinds = [...new Set(items.map((i) => i.kind))].sort();
    const shown = items.filter((i) => !kind || i.kind === kind);
    shown.sort((a, b) => {
      const x = String(a[sort] ?? ""), y = String(b[sort] ?? "");
      return (x < y ? -1 : x > y ? 1 : 0) * (dir === "asc" ? 1 : -1);
    });
    const go = (next) => { window.location.hash = `#/queue?${new URLSearchParams({ sort, dir, kind, ...next })}`; };
    const header = (label, column) => {
      const active = sort === column;
      return h("th", { scope: "col", "aria-sort": active ? (dir === "asc" ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", onclick: () => go({ sort: column, dir: active && dir === "asc" ? "desc" : "asc" }) },
          label, active ? (dir === "asc" ? " ▲" : " ▼") : ""));
    };
    const kindSelect = select("kind", [["", `all (${items.length})`], ...kinds.map((k) => [k, `${k.replaceAll("_", " ")} (${items.filter((i) => i.kind === k).length})`])],
      { id: "queue-kind", onchange: (event) => go({ kind: event.target.value }) });
    kindSelect.value = kind;
    show(page, h("h1", { tabindex: "-1" }, `Work queue (${shown.length})`),
      h("form", { class: "search", onsubmit: (e) => e.preventDefault() }, field("Show", kindSelect)),
      h("div", { class: "table-wrap" }, h("table", { id: "queue" },
        h("thead", {}, h("tr", {}, header("Waiting since", "since"), header("Kind", "kind"), header("Reason", "reason"),
          header("Order", "order_id"), h("th", { scope: "col" }, "Customer"))),
        h("tbody", {}, shown.length ? shown.map((i) => h("tr", { "data-kind": i.kind },
          h("td", {}, when(i.since)), h("td", {}, badge(i.kind, "kind")), h("td", {}, i.reason),
          h("td", {}, link(`#/order/${i.order_id}`, `Open order ${shortId(i.order_id)}`, { class: "mono", "data-order": i.order_id })),
          h("td", {}, link(`#/customer/${i.customer_id}`, shortId(i.customer_id), { class: "mono" }))))
          : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "Nothing waiting."))))));
  }

  // --- start --------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = document.getElementById("api-key").value.trim();
      const errorEl = document.getElementById("sign-in-error");
      try {
        await signIn(key);
        errorEl.hidden = true;
        flash("");
        route();
      } catch (error) {
        errorEl.textContent = error.status === 401 ? "That key is not accepted." : error.message;
        errorEl.hidden = false;
      }
    });
    document.getElementById("sign-out").addEventListener("click", () => { flash(""); signOut(); });
    window.addEventListener("hashchange", () => { route(); });
    const saved = sessionStorage.getItem(KEY);
    if (saved) {
      try { await signIn(saved); route(); return; } catch { /* fall through to the form */ }
    }
    signOut();
  });
})();
