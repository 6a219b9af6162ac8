// The composer's enhancements: image uploads (file picker and drag and drop) without a page reload,
// the missing-alt-text warning as you type, per-channel text boxes and each network's options that
// follow the chosen channels, the time zone following the first chosen channel, the main button's
// wording per schedule choice, and a warning before leaving unsaved changes. Live counters and
// previews come from htmx attributes in the template. Without this file the form still works: every
// button submits it and the page comes back with the result.
(() => {
  "use strict";

  const form = document.getElementById("composer");
  if (!form) {
    return;
  }

  const csrfToken = () => {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  };

  const changed = () => document.body.dispatchEvent(new Event("partsChanged"));

  const errorLine = (text) => {
    const line = document.createElement("p");
    line.className = "error";
    line.setAttribute("role", "alert");
    line.textContent = text;
    return line;
  };

  const fromHtml = (html) => {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  };

  // --- uploads ----------------------------------------------------------------------------------

  async function uploadFiles(files, part) {
    const list = document.getElementById(`media-list-${part}`);
    const errors = document.getElementById(`upload-${part}-errors`);
    if (!list || !errors) {
      return;
    }
    errors.replaceChildren();
    const maxBytes = Number(form.dataset.maxUploadBytes || 0);
    for (const file of files) {
      if (maxBytes && file.size > maxBytes) {
        const size = (file.size / 1048576).toFixed(1);
        errors.append(errorLine(`${file.name} is ${size} MB; images can be at most ${form.dataset.maxUploadMb} MB.`));
        continue;
      }
      const body = new FormData();
      body.append("file", file);
      body.append("part", part);
      let response;
      try {
        response = await fetch(form.dataset.uploadUrl, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        });
      } catch (error) {
        errors.append(errorLine(`${file.name} could not be uploaded: check the connection and try again.`));
        continue;
      }
      const node = fromHtml(await response.text());
      if (response.ok && node && node.matches(".media-item")) {
        list.append(node);
        if (window.htmx) {
          window.htmx.process(node);
        }
      } else if (node) {
        errors.append(node);
      } else {
        errors.append(errorLine(`${file.name} could not be uploaded (error ${response.status}).`));
      }
    }
    changed();
  }

  // File inputs must not reach the form's live check, which would send the file with every keystroke.
  const isFileInput = (target) => target instanceof HTMLInputElement && target.type === "file";
  form.addEventListener("input", (event) => {
    if (isFileInput(event.target)) {
      event.stopPropagation();
    }
  }, true);
  form.addEventListener("change", (event) => {
    if (!isFileInput(event.target)) {
      return;
    }
    event.stopPropagation();
    const input = event.target;
    const files = Array.from(input.files || []);
    if (files.length) {
      uploadFiles(files, input.dataset.part).finally(() => { input.value = ""; });
    }
  }, true);

  form.addEventListener("dragover", (event) => {
    const zone = event.target.closest(".dropzone");
    if (zone) {
      event.preventDefault();
      zone.classList.add("dragover");
    }
  });
  form.addEventListener("dragleave", (event) => {
    const zone = event.target.closest(".dropzone");
    if (zone && !zone.contains(event.relatedTarget)) {
      zone.classList.remove("dragover");
    }
  });
  form.addEventListener("drop", (event) => {
    const zone = event.target.closest(".dropzone");
    if (!zone) {
      return;
    }
    event.preventDefault();
    zone.classList.remove("dragover");
    const files = Array.from(event.dataTransfer.files || []);
    if (files.length) {
      uploadFiles(files, zone.dataset.part);
    }
  });

  // --- alt text -----------------------------------------------------------------------------------

  form.addEventListener("input", (event) => {
    const input = event.target;
    if (input.matches && input.matches(".alt-input")) {
      const item = input.closest(".media-item");
      if (item) {
        item.classList.toggle("alt-missing", !input.value.trim());
      }
    }
  });

  // --- channels, zone, schedule -------------------------------------------------------------------

  const zoneSelect = document.getElementById("zone");
  if (zoneSelect) {
    zoneSelect.addEventListener("change", () => { zoneSelect.dataset.touched = "1"; });
  }

  function chosenChannels() {
    return Array.from(form.querySelectorAll("input[name=channels]")).filter((box) => box.checked);
  }

  // The page has a per-channel text box only for the channels chosen when it was drawn; a box for
  // a newly ticked channel is made here from the template. Unticking hides a box, keeping its text.
  const overrideTemplate = document.getElementById("override-template");

  function overrideRow(box, part) {
    const row = overrideTemplate.content.firstElementChild.cloneNode(true);
    const id = `override-${box.value}-${part}`;
    row.dataset.overrideFor = box.value;
    row.querySelector("label").htmlFor = id;
    const group = box.closest(".channel-group");
    const badge = row.querySelector(".badge");
    badge.textContent = group ? group.dataset.networkLabel : "";
    badge.classList.add(`net-${group ? group.dataset.network : ""}`);
    row.querySelector(".override-handle").textContent = box.dataset.handle;
    const text = row.querySelector("textarea");
    text.name = id;
    text.id = id;
    return row;
  }

  function showOverrides() {
    const chosen = chosenChannels();
    const codes = new Set(chosen.map((box) => box.value));
    form.querySelectorAll(".override-rows").forEach((rows) => {
      for (const box of chosen) {
        if (overrideTemplate && !rows.querySelector(`[data-override-for="${box.value}"]`)) {
          rows.append(overrideRow(box, rows.dataset.part));
        }
      }
      rows.querySelectorAll("[data-override-for]").forEach((row) => {
        row.hidden = !codes.has(row.dataset.overrideFor);
      });
    });
  }

  // Each network's options (content warning, link card, topic tag...) show while one of its channels
  // is chosen. Hidden fields still go with the form, so unticking and ticking again loses nothing.
  function showNetworkOptions() {
    const networks = new Set(chosenChannels().map((box) => {
      const group = box.closest(".channel-group");
      return group ? group.dataset.network : "";
    }));
    form.querySelectorAll(".option-group[data-network]").forEach((group) => {
      // A refused value stays in sight, or the form could not be sent again.
      group.hidden = !networks.has(group.dataset.network) && !group.querySelector(".has-error");
    });
  }

  function followZone() {
    const first = chosenChannels()[0];
    if (zoneSelect && first && !zoneSelect.dataset.touched && first.dataset.tz) {
      zoneSelect.value = first.dataset.tz;
    }
  }

  const LABELS = { now: "labelNow", queue: "labelQueue", at: "labelAt", draft: "labelDraft", keep: "labelKeep" };

  function showMode() {
    const checked = form.querySelector("input[name=mode]:checked");
    const mode = checked ? checked.value : "";
    const atFields = document.getElementById("at-fields");
    if (atFields) {
      atFields.hidden = mode !== "at";
    }
    const button = document.getElementById("submit-button");
    const label = button && LABELS[mode] ? button.dataset[LABELS[mode]] : "";
    if (label) {
      button.textContent = label;
    }
  }

  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "channels") {
      showOverrides();
      showNetworkOptions();
      followZone();
    } else if (target.name === "mode") {
      showMode();
    }
  });

  // --- leaving with unsaved changes ---------------------------------------------------------------

  // Armed by the first change, or from the start when the page is the form sent back by the server
  // (a refused post): what it holds is not saved. Sending the form is not leaving it. Listening in
  // the capture phase hears the file inputs too, whose events stop at the form.
  let unsaved = form.hasAttribute("data-unsaved");
  const arm = () => { unsaved = true; };
  form.addEventListener("input", arm, true);
  form.addEventListener("change", arm, true);
  form.addEventListener("submit", () => { unsaved = false; });
  window.addEventListener("beforeunload", (event) => {
    if (unsaved) {
      event.preventDefault();
      event.returnValue = "";  // older browsers ask only when this is set
    }
  });

  // --- parts re-rendered by htmx ------------------------------------------------------------------

  let lastAction = "";
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button[name=action]");
    lastAction = button ? button.value : "";
  });

  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (!target || target.id !== "parts") {
      return;
    }
    showOverrides();
    const texts = form.querySelectorAll("textarea[name=part]");
    if (lastAction === "add-part" && texts.length) {
      texts[texts.length - 1].focus();
    } else if (lastAction.startsWith("split-")) {
      const index = Number(lastAction.slice("split-".length));
      if (texts[index]) {
        texts[index].focus();
      }
    }
  });

  showOverrides();
  showNetworkOptions();  // the browser may have restored other ticks than the page was drawn with
  showMode();
})();
