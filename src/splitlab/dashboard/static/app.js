// Splitlab dashboard: small progressive enhancements; every page works without them.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const code = button.parentElement.querySelector("code");
  if (!code) return;
  const say = (text) => {
    button.textContent = text;
    setTimeout(() => { button.textContent = "Copy"; }, 2500);
  };
  // Select the text first: without a secure context (plain http on a LAN address) there is
  // no clipboard API, and a selection is what the person can still copy by hand.
  const range = document.createRange();
  range.selectNodeContents(code);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(code.textContent).then(() => say("Copied"), () => say("Press Ctrl+C"));
  } else {
    say("Press Ctrl+C");
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
