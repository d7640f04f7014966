// The embrace serve playground: chat with streaming, embeddings similarity, and a form per pipeline task.
// Plain browser JavaScript against the server's own HTTP API (no build step, no dependencies). URLs are relative, so the
// page also works behind a reverse proxy that serves it under a path prefix. An ES module: the SSE reader comes from
// embrace.ui's static/sse.js, which this server serves beside its own files.
import {sseEvents} from "./sse.js";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = {chatModels: [], embeddingModels: [], tasks: {}, conversation: [], controller: null};

  // ---- HTTP ------------------------------------------------------------------------------------------------------
  const keyInput = $("api-key");
  keyInput.value = localStorage.getItem("embrace-api-key") || "";

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function banner(text) {
    const el = $("banner");
    el.textContent = text || "";
    el.hidden = !text;
  }

  // fetch() with the API key, and the server's {"error": {"message"}} turned into an exception
  async function api(path, options) {
    const opts = Object.assign({headers: {}}, options || {});
    opts.headers = Object.assign({"Content-Type": "application/json"}, opts.headers);
    if (keyInput.value.trim()) opts.headers["Authorization"] = "Bearer " + keyInput.value.trim();
    const response = await fetch(path, opts);
    if (response.ok) return response;
    let message = "HTTP " + response.status;
    try {
      const body = await response.json();
      if (body && body.error) message = typeof body.error === "string" ? body.error : body.error.message || message;
      else if (body && body.detail) message = JSON.stringify(body.detail);
    } catch (ignored) { /* not JSON */ }
    if (response.status === 401) {
      keyInput.classList.add("needed");
      $("api-key-status").textContent = keyInput.value ? "key rejected" : "key required";
      banner("This server needs an API key: enter it at the top right.");
    }
    throw new ApiError(response.status, message);
  }

  // ---- what the server serves --------------------------------------------------------------------------------------
  function fillSelect(select, values, emptyText) {
    const previous = select.value;
    select.replaceChildren();
    if (!values.length) {
      const option = new Option(emptyText, "");
      option.disabled = true;
      select.add(option);
      return;
    }
    values.forEach((v) => select.add(new Option(v, v)));
    if (values.includes(previous)) select.value = previous;
  }

  async function refresh() {
    try {
      const [models, pipelines] = await Promise.all([
        api("v1/models").then((r) => r.json()),
        api("v1/pipelines").then((r) => r.json()),
      ]);
      state.tasks = {};
      for (const entry of pipelines.data) state.tasks[entry.task] = entry.models;
      const all = models.data.map((m) => m.id);
      state.chatModels = state.tasks["text-generation"] || [];
      state.embeddingModels = state.tasks["feature-extraction"] || [];
      fillSelect($("chat-model"), state.chatModels, "no chat model served");
      fillSelect($("embedding-model"), state.embeddingModels, "no embedding model served");
      fillSelect($("pipeline-task"), Object.keys(state.tasks), "no pipeline served");
      showTaskModels();
      keyInput.classList.remove("needed");
      $("api-key-status").textContent = keyInput.value ? "key accepted" : "";
      banner(all.length ? "" : "This server serves no model.");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) banner("Cannot reach the server: " + err.message);
    }
  }

  keyInput.addEventListener("change", () => {
    localStorage.setItem("embrace-api-key", keyInput.value.trim());
    refresh();
  });

  // ---- tabs ----------------------------------------------------------------------------------------------------------
  document.querySelectorAll("[data-tab]").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("[data-tab]").forEach((b) => {
        const active = b === button;
        b.setAttribute("aria-selected", String(active));
        $("tab-" + b.dataset.tab).hidden = !active;
      });
    });
  });

  // ---- chat ----------------------------------------------------------------------------------------------------------
  const messages = $("messages");
  const temperature = $("temperature");
  temperature.addEventListener("input", () => { $("temperature-value").textContent = temperature.value; });
  $("top-p").addEventListener("input", () => { $("top-p-value").textContent = $("top-p").value; });

  function addMessage(role, text) {
    const empty = messages.querySelector(".empty");
    if (empty) empty.remove();
    const message = document.createElement("div");
    message.className = "message " + role;
    const who = document.createElement("div");
    who.className = "role";
    who.textContent = role;
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = text;
    message.append(who, content);
    messages.appendChild(message);
    messages.scrollTop = messages.scrollHeight;
    return message;
  }

  function chatBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
  }

  // Chat mode sends the conversation to /v1/chat/completions; completion mode sends the text alone as a prompt to
  // /v1/completions (for models without a chat template) and keeps no conversation.
  function chatRequest(text) {
    const completion = $("chat-mode").value === "completion";
    const body = {
      model: $("chat-model").value || undefined,
      stream: true,
      stream_options: {include_usage: true},
      temperature: Number(temperature.value),
      top_p: Number($("top-p").value),
      max_tokens: Math.max(1, Math.floor(Number($("max-tokens").value) || 256)),
    };
    if ($("seed").value.trim() !== "") body.seed = Math.floor(Number($("seed").value));  // reproducible sampling
    if (completion) {
      body.prompt = text;
      return {path: "v1/completions", body, piece: (choice) => choice.text, completion};
    }
    const system = $("system-prompt").value.trim();
    body.messages = (system ? [{role: "system", content: system}] : []).concat(state.conversation);
    return {path: "v1/chat/completions", body, piece: (choice) => choice.delta && choice.delta.content, completion};
  }

  async function sendMessage() {
    const text = $("prompt").value.trim();
    if (!text || state.controller) return;
    $("prompt").value = "";
    const completionMode = $("chat-mode").value === "completion";
    if (!completionMode) state.conversation.push({role: "user", content: text});
    addMessage(completionMode ? "prompt" : "user", text);
    const request = chatRequest(text);
    const bubble = addMessage(request.completion ? "completion" : "assistant", "");
    const content = bubble.querySelector(".content");
    bubble.classList.add("streaming");
    state.controller = new AbortController();
    chatBusy(true);
    const started = performance.now();
    let reply = "", firstToken = null, pieces = 0, usage = null, finish = null;
    try {
      const response = await api(request.path,
        {method: "POST", body: JSON.stringify(request.body), signal: state.controller.signal});
      for await (const event of sseEvents(response)) {
        if (event.error) throw new ApiError(500, event.error.message || "generation failed");
        for (const choice of event.choices || []) {
          const piece = request.piece(choice);
          if (piece) {
            if (firstToken === null) firstToken = performance.now();
            reply += piece;
            pieces += 1;
            content.textContent = reply;  // each chunk is drawn as it arrives
            messages.scrollTop = messages.scrollHeight;
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        if (event.usage) usage = event.usage;
      }
      if (!request.completion) state.conversation.push({role: "assistant", content: reply});
    } catch (err) {
      if (err.name === "AbortError") {  // stopped by the user: keep what was written
        if (!request.completion) state.conversation.push({role: "assistant", content: reply});
        finish = "stopped";
      } else {
        if (!request.completion) state.conversation.pop();  // the failed turn is not part of the conversation
        bubble.classList.add("error");
        let message = "Error: " + err.message;
        if (/no chat template/.test(err.message)) message += "\nSwitch Mode to Completion to use this model.";
        content.textContent = (reply ? reply + "\n\n" : "") + message;
      }
    } finally {
      bubble.classList.remove("streaming");
      state.controller = null;
      chatBusy(false);
    }
    const ended = performance.now();
    const tokens = usage ? usage.completion_tokens : pieces;
    const parts = [tokens + " tokens"];
    if (firstToken !== null) parts.push("first token " + Math.round(firstToken - started) + " ms");
    // decoding speed: the tokens after the first over the time after it
    if (firstToken !== null && tokens > 1 && ended > firstToken) {
      parts.push(((tokens - 1) / ((ended - firstToken) / 1000)).toFixed(1) + " tokens/s");
    }
    if (finish) parts.push("finish: " + finish);
    $("chat-stats").textContent = parts.join(" · ");
  }

  $("chat-form").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendMessage(); }
  });
  $("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
  $("chat-mode").addEventListener("change", () => {
    $("system-prompt").disabled = $("chat-mode").value === "completion";  // a plain prompt has no system part
  });
  $("clear-chat").addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    state.conversation = [];
    messages.replaceChildren();
    $("chat-stats").textContent = "";
  });

  // ---- embeddings ----------------------------------------------------------------------------------------------------
  const EXAMPLE_TEXTS = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."];

  function addText(value) {
    const area = document.createElement("textarea");
    area.className = "embedding-text";
    area.rows = 2;
    area.value = value || "";
    area.placeholder = "Text " + ($("embedding-texts").children.length + 1);
    $("embedding-texts").appendChild(area);
    return area;
  }
  EXAMPLE_TEXTS.forEach(addText);
  $("add-text").addEventListener("click", () => addText("").focus());

  function cosine(a, b) {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    return na && nb ? dot / Math.sqrt(na * nb) : 0;
  }

  function shorten(text, limit) { return text.length > limit ? text.slice(0, limit - 1) + "…" : text; }

  function similarityTable(texts, vectors) {
    const table = document.createElement("table");
    table.className = "matrix";
    const head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    texts.forEach((t, j) => {
      const th = document.createElement("th");
      th.textContent = "#" + (j + 1);
      th.title = t;
      head.appendChild(th);
    });
    const tbody = table.createTBody();
    texts.forEach((t, i) => {
      const row = tbody.insertRow();
      const th = document.createElement("th");
      th.textContent = "#" + (i + 1) + " " + shorten(t, 40);
      th.title = t;
      row.appendChild(th);
      vectors.forEach((v, j) => {
        const score = cosine(vectors[i], v);
        const cell = row.insertCell();
        cell.textContent = score.toFixed(3);
        cell.dataset.i = String(i);
        cell.dataset.j = String(j);
        cell.style.background = "rgba(232, 89, 12, " + Math.max(0, score).toFixed(3) * 0.6 + ")";
      });
    });
    return table;
  }

  $("compare").addEventListener("click", async () => {
    const texts = Array.from(document.querySelectorAll(".embedding-text")).map((a) => a.value.trim()).filter(Boolean);
    const status = $("embedding-status");
    status.classList.remove("error");
    if (texts.length < 2) { status.textContent = "Enter at least two texts."; status.classList.add("error"); return; }
    status.textContent = "Embedding " + texts.length + " texts…";
    try {
      const started = performance.now();
      const body = {input: texts, model: $("embedding-model").value || undefined};
      const result = await (await api("v1/embeddings", {method: "POST", body: JSON.stringify(body)})).json();
      const vectors = result.data.slice().sort((a, b) => a.index - b.index).map((d) => d.embedding);
      $("similarity").replaceChildren(similarityTable(texts, vectors));
      let best = null;
      for (let i = 0; i < texts.length; i++) {
        for (let j = i + 1; j < texts.length; j++) {
          const s = cosine(vectors[i], vectors[j]);
          if (best === null || s > best[0]) best = [s, i, j];
        }
      }
      status.textContent = vectors[0].length + "-dimensional vectors in " + Math.round(performance.now() - started) +
        " ms; most similar: #" + (best[1] + 1) + " and #" + (best[2] + 1) + " (" + best[0].toFixed(3) + ")";
    } catch (err) {
      status.textContent = "Error: " + err.message;
      status.classList.add("error");
    }
  });

  // ---- pipelines -------------------------------------------------------------------------------------------------------
  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
  const commaList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const textField = (name, label, rows, placeholder) => ({name, label, rows: rows || 1, placeholder: placeholder || ""});
  const tokensField = {name: "max_new_tokens", label: "Max new tokens", type: "number", value: "64"};
  const seq2seq = (key) => ({
    fields: [textField("text", "Text", 5), tokensField],
    request: (v) => ({inputs: v.text, parameters: {max_new_tokens: Number(v.max_new_tokens)}}),
    render: (out) => textBlock(first(out)[key]),
  });
  const first = (out) => (Array.isArray(out) ? out[0] : out);

  // For each task: the fields of its form, the request body they make, and how to draw the answer
  const TASKS = {
    "text-classification": {
      fields: [textField("text", "Text", 3, "I love this!")],
      request: (v) => ({inputs: v.text, parameters: {top_k: null}}),
      render: (out) => bars(out.map((r) => [r.label, r.score])),
    },
    "token-classification": {
      fields: [textField("text", "Text", 3, "My name is Wolfgang and I live in Berlin.")],
      request: (v) => ({inputs: v.text}),
      render: (out) => entityTable(out),
    },
    "question-answering": {
      fields: [textField("question", "Question", 1, "Where do I live?"),
        textField("context", "Context", 5, "My name is Sarah and I live in London.")],
      request: (v) => ({inputs: {question: v.question, context: v.context}}),
      render: (out) => textBlock(first(out).answer + "   (score " + first(out).score.toFixed(3) + ")"),
    },
    "fill-mask": {
      fields: [textField("text", "Text with the mask token", 2, "Paris is the [MASK] of France.")],
      request: (v) => ({inputs: v.text}),
      render: (out) => bars((Array.isArray(out[0]) ? out[0] : out).map((p) => [p.token_str, p.score])),
    },
    "zero-shot-classification": {
      fields: [textField("text", "Text", 3, "The match went to extra time."),
        textField("labels", "Candidate labels (comma-separated)", 1, "sport, politics, cooking")],
      request: (v) => ({inputs: v.text, parameters: {candidate_labels: commaList(v.labels)}}),
      render: (out) => bars(out.labels.map((l, i) => [l, out.scores[i]])),
    },
    "sentence-similarity": {
      fields: [textField("source", "Source sentence", 1, "That is a happy person"),
        textField("sentences", "Sentences to compare (one per line)", 4, "That is a happy dog\nToday is a sunny day")],
      request: (v) => ({inputs: {source_sentence: v.source, sentences: lines(v.sentences)}}),
      render: (out, v) => bars(lines(v.sentences).map((s, i) => [s, out[i]])),
    },
    "feature-extraction": {
      fields: [textField("text", "Text", 3, "Embeddings turn text into vectors.")],
      request: (v) => ({inputs: v.text}),
      render: (out) => {
        const rows = Array.isArray(out[0]) && Array.isArray(out[0][0]) ? out[0] : out;
        const shape = Array.isArray(rows[0]) ? rows.length + " tokens × " + rows[0].length : rows.length + " values";
        return textBlock(shape + "\nfirst token: [" + (rows[0] || []).slice(0, 8).map((x) => x.toFixed(4)).join(", ") + ", …]");
      },
    },
    "text-generation": {
      fields: [textField("text", "Prompt", 4, "Once upon a time"), tokensField],
      request: (v) => ({inputs: v.text, parameters: {max_new_tokens: Number(v.max_new_tokens)}}),
      render: (out) => textBlock(first(out).generated_text),
    },
    "summarization": seq2seq("summary_text"),
    "translation": seq2seq("translation_text"),
    "text2text-generation": seq2seq("generated_text"),
  };
  const GENERIC_TASK = {
    fields: [textField("inputs", "inputs (JSON)", 4, '"some text"'), textField("parameters", "parameters (JSON)", 2, "{}")],
    request: (v) => ({inputs: JSON.parse(v.inputs), parameters: v.parameters.trim() ? JSON.parse(v.parameters) : {}}),
    render: () => null,
  };

  function textBlock(text) {
    const div = document.createElement("div");
    div.className = "result-text";
    div.textContent = text;
    return div;
  }

  function bars(pairs) {
    const box = document.createElement("div");
    box.className = "bars";
    pairs.slice().sort((a, b) => b[1] - a[1]).forEach(([label, score]) => {
      const row = document.createElement("div");
      row.className = "bar-row";
      const name = document.createElement("span");
      name.className = "bar-label";
      name.textContent = label;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = Math.max(0, Math.min(1, score)) * 100 + "%";
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = score.toFixed(3);
      row.append(name, bar, value);
      box.appendChild(row);
    });
    return box;
  }

  function entityTable(entities) {
    const table = document.createElement("table");
    table.className = "entities";
    const head = table.createTHead().insertRow();
    ["word", "entity", "score", "start", "end"].forEach((h) => {
      const th = document.createElement("th");
      th.textContent = h;
      head.appendChild(th);
    });
    const body = table.createTBody();
    for (const e of entities) {
      const row = body.insertRow();
      [e.word, e.entity_group || e.entity, e.score.toFixed(3), e.start, e.end].forEach((v) => {
        row.insertCell().textContent = v === undefined || v === null ? "" : String(v);
      });
    }
    return table;
  }

  function currentTask() { return TASKS[$("pipeline-task").value] || GENERIC_TASK; }

  function showTaskModels() {
    fillSelect($("pipeline-model"), state.tasks[$("pipeline-task").value] || [], "none");
    const form = $("pipeline-form");
    form.replaceChildren();
    for (const field of currentTask().fields) {
      const label = document.createElement("label");
      label.textContent = field.label;
      label.htmlFor = "field-" + field.name;
      let input;
      if (field.type === "number") {
        input = document.createElement("input");
        input.type = "number";
        input.min = "1";
      } else if (field.rows > 1) {
        input = document.createElement("textarea");
        input.rows = field.rows;
      } else {
        input = document.createElement("input");
        input.type = "text";
      }
      input.id = "field-" + field.name;
      input.name = field.name;
      input.value = field.value || field.placeholder || "";
      form.append(label, input);
    }
    $("pipeline-output").replaceChildren();
    $("pipeline-raw").textContent = "";
    $("pipeline-status").textContent = "";
  }
  $("pipeline-task").addEventListener("change", showTaskModels);

  $("run-pipeline").addEventListener("click", async () => {
    const task = $("pipeline-task").value;
    if (!task) return;
    const spec = currentTask();
    const values = {};
    spec.fields.forEach((f) => { values[f.name] = $("field-" + f.name).value; });
    const status = $("pipeline-status");
    status.classList.remove("error");
    status.textContent = "Running " + task + "…";
    $("run-pipeline").disabled = true;
    try {
      const body = spec.request(values);
      if ($("pipeline-model").value) body.model = $("pipeline-model").value;
      const started = performance.now();
      const response = await api("v1/pipelines/" + encodeURIComponent(task), {method: "POST", body: JSON.stringify(body)});
      const out = await response.json();
      $("pipeline-raw").textContent = JSON.stringify(out, null, 2);
      const drawn = spec.render(out, values);
      $("pipeline-output").replaceChildren(drawn || textBlock(JSON.stringify(out, null, 2)));
      status.textContent = "Done in " + Math.round(performance.now() - started) + " ms";
    } catch (err) {
      status.textContent = "Error: " + err.message;
      status.classList.add("error");
    } finally {
      $("run-pipeline").disabled = false;
    }
  });

  refresh();
})();
