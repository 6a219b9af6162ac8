// Drag a post chip to another day (month) or hour (week) to move it; the server decides and the grid
// is reloaded. Without this script every chip still has a "Move" link to a form.
(() => {
  let dragged = null;

  const csrfToken = () => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  };

  const announce = (text, isError) => {
    const region = document.getElementById("calendar-announce");
    if (!region) { return; }
    region.textContent = text || "";
    region.classList.toggle("is-error", Boolean(isError));
  };

  const refresh = () => {
    const calendar = document.getElementById("calendar");
    if (calendar && window.htmx) {
      window.htmx.ajax("GET", calendar.dataset.refreshUrl, { target: "#calendar", swap: "outerHTML" });
    } else {
      window.location.reload();
    }
  };

  const cellOf = (event) => (event.target.closest ? event.target.closest("td[data-day]") : null);

  const clearTargets = () => {
    document.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
  };

  document.addEventListener("dragstart", (event) => {
    const chip = event.target.closest ? event.target.closest(".chip[data-move-url]") : null;
    if (!chip) { return; }
    dragged = chip;
    chip.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", chip.id);
  });

  document.addEventListener("dragend", () => {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", (event) => {
    const cell = cellOf(event);
    if (!dragged || !cell) { return; }
    event.preventDefault();  // allows the drop
    event.dataTransfer.dropEffect = "move";
    if (!cell.classList.contains("drop-target")) {
      clearTargets();
      cell.classList.add("drop-target");
    }
  });

  document.addEventListener("drop", async (event) => {
    const cell = cellOf(event);
    if (!dragged || !cell) { return; }
    event.preventDefault();
    const chip = dragged;
    clearTargets();
    const body = new FormData();
    body.append("day", cell.dataset.day);
    if (cell.dataset.hour !== undefined) { body.append("hour", cell.dataset.hour); }
    announce("Moving…", false);
    try {
      const response = await fetch(chip.dataset.moveUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        announce(data.message || "Moved.", false);
        refresh();
      } else {
        announce(data.error || "The post could not be moved.", true);
      }
    } catch (error) {
      announce("The post could not be moved: the connection failed. Try again.", true);
    }
  });
})();
