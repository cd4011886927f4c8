// The portal's only script: copy buttons, and the endpoint picker's search.
// Everything works without it.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});
const search = document.getElementById("endpoint-search");
if (search) {
  search.addEventListener("input", () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const row of document.querySelectorAll("[data-endpoint]")) {
      const text = row.dataset.endpoint.toLowerCase();
      row.hidden = !words.every((w) => text.includes(w));
    }
  });
}
