// Small progressive enhancements; every page works without this file.
"use strict";

// Move focus to swapped-in content that asks for it (e.g. a quiz's feedback),
// so keyboard and screen-reader users hear the result of their action.
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  const focusable = target && target.querySelector ? target.querySelector("[data-autofocus]") : null;
  if (focusable) focusable.focus();
});
