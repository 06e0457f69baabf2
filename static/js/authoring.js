// The authoring forms (the lesson editor, the quiz forms): Ctrl+S saves, and what is
// typed is kept in this browser (localStorage) until it is saved, so a reload or a
// dropped connection loses nothing. The lesson editor's server copy (kept with every
// live preview) covers a crash of the browser; this one covers the moments the server
// cannot be reached. A form opts in with data-autosave="<key>" and
// data-revision="<revision it was opened on>". Without JavaScript: plain forms.
(function () {
  "use strict";
  const form = document.querySelector("form[data-autosave]");
  if (!form) return;
  const key = "virtlab-editor:" + form.dataset.autosave;
  const revision = Number(form.dataset.revision);

  document.querySelectorAll(".no-js-only").forEach((el) => { el.hidden = true; });

  function fields() {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "hidden" || el.type === "submit") continue;
      if (el.type === "checkbox") {
        data[el.name] = data[el.name] || [];
        if (el.checked) data[el.name].push(el.value);
      } else if (el.type === "radio") {
        if (!(el.name in data)) data[el.name] = null;
        if (el.checked) data[el.name] = el.value;
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
      else if (el.type === "radio") el.checked = data[el.name] === el.value;
      else if (el.type !== "hidden" && el.type !== "submit") el.value = data[el.name];
    }
    form.dispatchEvent(new Event("change", { bubbles: true })); // refresh the preview
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function read() {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  // On load: offer back what this browser kept, unless the page already shows it.
  // Forms whose fields come and go (a question added) can only take back text typed
  // into the same fields.
  const sameShape = (a, b) => same(Object.keys(a).sort(), Object.keys(b).sort());

  const kept = read();
  if (kept && kept.fields) {
    if (same(kept.fields, fields())) {
      localStorage.removeItem(key);
    } else if (sameShape(kept.fields, fields())) {
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
