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

  // htmx replaces the whole list after a row's action: remember which row and which button it was, so
  // that the keyboard stays on that post ("Move up" again) instead of falling back to the page.
  let lastAction = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.target.closest ? event.target.closest(".queue-row[id] form") : null;
    if (!form) { return; }
    const button = form.querySelector("button[type=submit]");
    lastAction = { row: form.closest(".queue-row").id, label: button ? button.textContent.trim() : "" };
  });

  // After htmx swaps the queue in, put the keyboard on the field that needs fixing, if any, else back
  // on the post that was acted on: its same button, or another one when that one is gone (a post moved
  // to the top has no "Move up").
  document.addEventListener("htmx:afterSettle", (event) => {
    const invalid = document.querySelector("#queue-list [aria-invalid=true]");
    const swapped = event.detail && event.detail.target;
    if (!swapped || swapped.id !== "queue-list") { return; }  // a status badge's poll, say
    const action = lastAction;
    lastAction = null;
    if (invalid) {
      invalid.focus();
      return;
    }
    const row = action && document.getElementById(action.row);
    if (!row) { return; }
    const buttons = Array.from(row.querySelectorAll(".row-actions button")).filter((b) => b.offsetParent);
    const target = buttons.find((b) => b.textContent.trim() === action.label) || buttons[0];
    if (target) {
      target.focus();
    } else {
      row.tabIndex = -1;
      row.focus();
    }
  });
})();
