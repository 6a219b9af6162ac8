// Queue and posting-schedule pages: small conveniences on top of plain forms.
(() => {
  // Weekday shortcuts of the "add a posting time" form (hidden without this script).
  document.querySelectorAll(".weekday-shortcuts").forEach((shortcuts) => {
    shortcuts.hidden = false;
    shortcuts.addEventListener("click", (event) => {
      const button = event.target.closest("[data-weekdays]");
      if (!button) { return; }
      const chosen = button.dataset.weekdays.split(",").filter(Boolean);
      shortcuts.closest("fieldset").querySelectorAll("input[type=checkbox]").forEach((box) => {
        box.checked = chosen.includes(box.value);
      });
    });
  });

  // After htmx swaps the queue in, put the keyboard on the field that needs fixing, if any.
  document.addEventListener("htmx:afterSettle", () => {
    const invalid = document.querySelector("#queue-list [aria-invalid=true]");
    if (invalid) { invalid.focus(); }
  });
})();
