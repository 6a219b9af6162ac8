// "Copy" buttons next to read-only fields (tokens, feed URLs). Without JavaScript the field can be
// selected and copied by hand.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) { return; }
  const field = document.getElementById(button.dataset.copy);
  if (!field) { return; }
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Press Ctrl+C";
  }
});
