// Splitlab dashboard: small progressive enhancements; every page works without them.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const code = button.parentElement.querySelector("code");
  if (code && navigator.clipboard) {
    navigator.clipboard.writeText(code.textContent).then(() => {
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
});
document.addEventListener("DOMContentLoaded", () => {
  const add = document.getElementById("add-variant");
  if (!add) return;
  add.addEventListener("click", () => {
    const body = document.querySelector("#variants tbody");
    const rows = body.querySelectorAll("tr");
    const row = rows[rows.length - 1].cloneNode(true);
    const index = rows.length;
    row.querySelectorAll("input").forEach((input) => {
      if (input.type === "radio") { input.value = String(index); input.checked = false; }
      else input.value = "";
      const label = input.getAttribute("aria-label");
      if (label) input.setAttribute("aria-label", label.replace(/Variant \d+/, `Variant ${index + 1}`));
    });
    body.appendChild(row);
  });
});
