// The lesson editor: Ctrl+S saves, and what is typed is kept in this browser
// (localStorage) until it is saved, so a reload or a dropped connection loses nothing.
// The server keeps a copy too, with every live preview; this one covers the moments
// the server cannot be reached. Without JavaScript the editor is a plain form.
(function () {
  "use strict";
  const form = document.getElementById("editor-form");
  if (!form) return;
  const key = "virtlab-editor:" + form.dataset.lesson;
  const revision = Number(form.dataset.revision);

  document.querySelectorAll(".no-js-only").forEach((el) => { el.hidden = true; });

  function fields() {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "hidden" || el.type === "submit") continue;
      if (el.type === "checkbox") {
        data[el.name] = data[el.name] || [];
        if (el.checked) data[el.name].push(el.value);
      } else {
        data[el.name] = el.value;
      }
    }
    return data;
  }

  function fill(data) {
    for (const el of form.elements) {
      if (!(el.name in data)) continue;
      if (el.type === "checkbox") el.checked = data[el.name].includes(el.value);
      else if (el.type !== "hidden" && el.type !== "submit") el.value = data[el.name];
    }
    form.dispatchEvent(new Event("change", { bubbles: true })); // refresh the preview
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function read() {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  // On load: offer back what this browser kept, unless the page already shows it.
  const kept = read();
  if (kept && kept.fields) {
    if (same(kept.fields, fields())) {
      localStorage.removeItem(key);
    } else {
      const offer = document.getElementById("local-restore");
      const when = new Date(kept.at).toLocaleTimeString();
      offer.textContent = "This browser kept text you typed at " + when +
        " (started from revision " + kept.revision + ") that is not in the editor. ";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button small";
      button.textContent = "Put it back";
      button.addEventListener("click", () => {
        fill(kept.fields);
        // Saved against the revision it was typed on, so a newer one is a conflict
        // the server shows, never silently overwritten.
        form.elements.based_on.value = kept.revision;
        offer.hidden = true;
      });
      offer.appendChild(button);
      offer.hidden = false;
      if (kept.revision !== revision) {
        offer.append(" Someone may have saved a newer revision since: saving will show you both.");
      }
    }
  }

  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        localStorage.setItem(key, JSON.stringify({ revision, at: Date.now(), fields: fields() }));
      } catch (e) { /* storage full or disabled: the server copy remains */ }
    }, 400);
  });

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      form.querySelector('button[value="save"]').click();
    }
  });
})();
