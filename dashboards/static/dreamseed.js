/* DreamSeed dashboards behaviour, served from the package at /static/dreamseed.js (no CDN).
 *
 * 1. Filters in the URL: a Shiny input whose container carries data-ds-filter="<id>" writes its
 *    value to the query string (history.replaceState), so a reload or a shared link keeps it;
 *    the page's UI function reads the same parameter for its first render.
 * 2. Tables (dashboards.components.data_table): sorting by column, paging, CSV download of every
 *    row, all in the browser over the rows the server already filtered for this user.
 *    Works on tables rendered later by Shiny too (a MutationObserver picks them up).
 */
(function () {
  "use strict";

  function setParam(name, value) {
    var url = new URL(window.location.href);
    if (Array.isArray(value)) value = value.join(",");
    if (value === null || value === undefined || value === "") url.searchParams.delete(name);
    else url.searchParams.set(name, String(value));
    if (url.href !== window.location.href) window.history.replaceState(null, "", url.href);
  }

  function watchFilters() {
    if (!window.jQuery) return;
    window.jQuery(document).on("shiny:inputchanged", function (event) {
      var boxes = document.querySelectorAll("[data-ds-filter]");
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i].getAttribute("data-ds-filter") === event.name) {
          setParam(event.name, event.value);
          return;
        }
      }
    });
  }

  function cellValue(cell) {
    var raw = cell.getAttribute("data-value");
    return raw === null ? cell.textContent.trim() : raw;
  }

  function compare(kind, a, b) {
    if (a === b) return 0;
    if (a === "") return 1; // empty cells last, whatever the direction
    if (b === "") return -1;
    if (kind === "number") return Number(a) - Number(b);
    return a < b ? -1 : 1;
  }

  function csvField(text) {
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function initTable(box) {
    if (box.getAttribute("data-ds-ready") === "1") return;
    box.setAttribute("data-ds-ready", "1");
    var table = box.querySelector("table");
    var body = table.tBodies[0];
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var rows = Array.prototype.slice.call(body.rows);
    var size = parseInt(box.getAttribute("data-page-size") || "25", 10);
    var page = 0;
    var count = box.querySelector(".ds-table-count");
    var prev = box.querySelector("[data-ds-prev]");
    var next = box.querySelector("[data-ds-next]");
    var where = box.querySelector("[data-ds-where]");

    function show() {
      var pages = Math.max(1, Math.ceil(rows.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      for (var i = 0; i < rows.length; i++) {
        rows[i].hidden = i < page * size || i >= (page + 1) * size;
      }
      var first = rows.length ? page * size + 1 : 0;
      var last = Math.min(rows.length, (page + 1) * size);
      if (count) count.textContent = "rows " + first + "\u2013" + last + " of " + rows.length;
      if (where) where.textContent = "page " + (page + 1) + " of " + pages;
      if (prev) prev.disabled = page === 0;
      if (next) next.disabled = page >= pages - 1;
    }

    headers.forEach(function (th, index) {
      var button = th.querySelector(".ds-sort");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) {
          if (other.querySelector(".ds-sort")) other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var kind = th.getAttribute("data-kind") || "text";
        rows.sort(function (r1, r2) {
          var a = cellValue(r1.cells[index]);
          var b = cellValue(r2.cells[index]);
          var c = compare(kind, a, b);
          return a === "" || b === "" ? c : ascending ? c : -c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        page = 0;
        show();
      });
    });
    if (prev) prev.addEventListener("click", function () { page -= 1; show(); });
    if (next) next.addEventListener("click", function () { page += 1; show(); });

    var download = box.querySelector("[data-ds-csv]");
    if (download) {
      download.addEventListener("click", function () {
        var lines = [headers.map(function (th) {
          return csvField(th.getAttribute("data-key") || th.textContent.trim());
        }).join(",")];
        rows.forEach(function (row) {
          lines.push(Array.prototype.map.call(row.cells, function (cell) {
            return csvField(cellValue(cell));
          }).join(","));
        });
        var blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = box.getAttribute("data-csv-name") || "table.csv";
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
      });
    }
    show();
  }

  function scan(root) {
    var boxes = (root || document).querySelectorAll("[data-ds-table]");
    for (var i = 0; i < boxes.length; i++) initTable(boxes[i]);
  }

  function start() {
    scan(document);
    watchFilters();
    new MutationObserver(function () { scan(document); }).observe(document.body, {
      childList: true,
      subtree: true,
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
