// Small progressive enhancements; every page works without this file.
"use strict";

// Move focus to swapped-in content that asks for it (e.g. a quiz's feedback),
// so keyboard and screen-reader users hear the result of their action.
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  const focusable = target && target.querySelector ? target.querySelector("[data-autofocus]") : null;
  if (focusable) focusable.focus();
});

// htmx does not swap error responses, so without this a failed request (a server
// error, a stale CSRF token, a lost connection) would look like a button that does
// nothing. Say so next to the form; what the user typed stays where it was.
function showRequestError(event, text) {
  const origin = event.detail.elt;
  const form = origin && origin.closest ? origin.closest("form") || origin : null;
  if (!form || !form.parentNode) return;
  let note = form.parentNode.querySelector(":scope > .request-error");
  if (!note) {
    note = document.createElement("p");
    note.className = "request-error";
    note.setAttribute("role", "alert");
    form.after(note);
  }
  note.textContent = text;
}

document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr ? event.detail.xhr.status : 0;
  showRequestError(event, `The server could not take this (error ${status}). What you typed is still in the form: try again in a moment, or reload the page.`);
});

document.addEventListener("htmx:sendError", (event) => {
  showRequestError(event, "The server could not be reached, so nothing was sent. What you typed is still in the form: try again when the connection is back.");
});

// A successful swap replaces the form, and with it any earlier error note.
document.addEventListener("htmx:beforeSwap", (event) => {
  const origin = event.detail.elt;
  const form = origin && origin.closest ? origin.closest("form") || origin : null;
  const note = form && form.parentNode ? form.parentNode.querySelector(":scope > .request-error") : null;
  if (note && event.detail.shouldSwap) note.remove();
});

// A code block or table wider than the screen scrolls sideways; keyboard users can
// only scroll what they can focus, so such a region joins the tab order (and leaves it
// again when a wider window makes it fit). Regions that already hold a link or a
// control are reachable through those.
const SCROLL_REGIONS = "pre, .table-scroll, .prose table, table.data";

function makeScrollRegionsFocusable(root) {
  if (!root.querySelectorAll) return;
  root.querySelectorAll(SCROLL_REGIONS).forEach((region) => {
    const overflows = region.scrollWidth > region.clientWidth + 1;
    const managed = region.dataset.scrollFocus === "1";
    if (overflows && !region.hasAttribute("tabindex")) {
      region.setAttribute("tabindex", "0");
      region.dataset.scrollFocus = "1";
    } else if (!overflows && managed) {
      region.removeAttribute("tabindex");
      delete region.dataset.scrollFocus;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => makeScrollRegionsFocusable(document));
document.addEventListener("htmx:afterSettle", (event) => makeScrollRegionsFocusable(event.detail.elt));
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => makeScrollRegionsFocusable(document), 200);
});
