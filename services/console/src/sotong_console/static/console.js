// The console's only script of its own: a "select all" box for bulk decisions. Everything else is htmx
// (vendor/), configured in base.html never to evaluate code; this file adds no handler that reads page text.
"use strict";
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll) return;
  const form = box.form || document;
  for (const item of form.querySelectorAll(`input[type=checkbox][name="${box.dataset.selectAll}"]`)) {
    item.checked = box.checked;
  }
});
