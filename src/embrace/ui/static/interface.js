// The page script of an embrace Interface: read the form, POST {"data": [...]} to api/predict, draw the outputs.
// Plain browser JavaScript (an ES module), no build step. The form itself is drawn by the server
// (embrace/ui/page.py); the SSE reader is static/sse.js, shared with the `embrace serve` playground.
import {sseEvents} from "./sse.js";

(function () {
  const config = JSON.parse(document.getElementById("interface-config").textContent);
  const form = document.getElementById("inputs");
  const submit = document.getElementById("submit");
  const status = document.getElementById("status");
  const field = (i) => document.getElementById("input-" + i);

  function readInput(component, i) {
    const el = field(i);
    switch (component.kind) {
      case "textbox": return el.value;
      case "number": return el.value === "" ? null : Number(el.value);
      case "slider": return Number(el.value);
      case "checkbox": return el.checked;
      case "dropdown": {
        const picked = Array.from(el.selectedOptions).map((o) => component.choices[Number(o.value)][1]);
        return component.multiselect ? picked : picked[0];
      }
      case "json": {
        if (el.value.trim() === "") return null;
        try { return JSON.parse(el.value); } catch (err) {
          throw new Error((component.label || "Input " + (i + 1)) + " is not valid JSON: " + err.message);
        }
      }
      default: return el.value;
    }
  }

  function writeInput(component, i, value) {
    const el = field(i);
    switch (component.kind) {
      case "checkbox": el.checked = Boolean(value); break;
      case "dropdown": {
        const wanted = component.multiselect ? value : [value];
        Array.from(el.options).forEach((o) => {
          o.selected = wanted.some((w) => JSON.stringify(w) === JSON.stringify(component.choices[Number(o.value)][1]));
        });
        break;
      }
      case "json": el.value = value === null || value === undefined ? "" : JSON.stringify(value, null, 2); break;
      default: el.value = value === null || value === undefined ? "" : value;
    }
    el.dispatchEvent(new Event("input"));
  }

  function drawLabel(box, value) {
    if (!value) return;
    const top = document.createElement("div");
    top.className = "label-top";
    top.textContent = value.label === null ? "" : value.label;
    box.appendChild(top);
    for (const c of value.confidences || []) {
      const row = document.createElement("div");
      row.className = "confidence";
      const name = document.createElement("span");
      name.className = "confidence-label";
      name.textContent = c.label;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = Math.max(0, Math.min(100, c.confidence * 100)).toFixed(1) + "%";
      bar.appendChild(fill);
      const pct = document.createElement("span");
      pct.className = "confidence-value";
      pct.textContent = (c.confidence * 100).toFixed(1) + "%";
      row.append(name, bar, pct);
      box.appendChild(row);
    }
  }

  function drawOutput(component, i, value) {
    const box = document.getElementById("output-" + i);
    box.replaceChildren();
    if (component.kind === "label") { drawLabel(box, value); return; }
    const pre = document.createElement(component.kind === "json" ? "pre" : "div");
    pre.className = "value";
    if (component.kind === "json") pre.textContent = JSON.stringify(value, null, 2);
    else pre.textContent = value === null || value === undefined ? "" : String(value);
    box.appendChild(pre);
  }

  function showStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function run(event) {
    if (event) event.preventDefault();
    let data;
    try { data = config.inputs.map(readInput); } catch (err) { showStatus(err.message, true); return; }
    submit.disabled = true;
    document.body.classList.add("busy");
    showStatus("Running…", false);
    try {
      // a generator function streams: its outputs are redrawn after every step
      const response = await fetch(config.stream ? "api/stream" : "api/predict", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({data}),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({error: "HTTP " + response.status}));
        showStatus(body.error || "HTTP " + response.status, true);
        return;
      }
      if (!config.stream) {
        const body = await response.json();
        config.outputs.forEach((c, i) => drawOutput(c, i, body.data[i]));
        showStatus("Done in " + body.duration.toFixed(2) + " s", false);
        return;
      }
      for await (const step of sseEvents(response)) {
        if (step.error) { showStatus(step.error, true); return; }
        if (step.data) config.outputs.forEach((c, i) => drawOutput(c, i, step.data[i]));
        if (step.done) showStatus("Done in " + step.duration.toFixed(2) + " s", false);
      }
    } catch (err) {
      showStatus("Request failed: " + err.message, true);
    } finally {
      submit.disabled = false;
      document.body.classList.remove("busy");
    }
  }

  form.addEventListener("submit", run);
  document.getElementById("clear").addEventListener("click", () => {
    config.inputs.forEach((c, i) => writeInput(c, i, c.value));
    config.outputs.forEach((c, i) => document.getElementById("output-" + i).replaceChildren());
    showStatus("", false);
  });
  document.querySelectorAll("input[type=range]").forEach((el) => {
    const shown = el.parentElement.querySelector("output");
    el.addEventListener("input", () => { shown.textContent = el.value; });
  });
  document.querySelectorAll("tr[data-example]").forEach((row) => {
    row.addEventListener("click", () => {
      config.examples[Number(row.dataset.example)].forEach((v, i) => writeInput(config.inputs[i], i, v));
    });
  });
  // Ctrl/Cmd-Enter submits from a text area
  form.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(e); });
  config.outputs.forEach((c, i) => { if (c.value !== null && c.value !== undefined) drawOutput(c, i, c.value); });
})();
