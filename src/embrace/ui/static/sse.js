// Server-Sent Events over fetch(), shared by the embrace.ui Interface page and the `embrace serve` playground
// (each server serves this one file as static/sse.js). EventSource cannot POST a body, so the pages read the
// streamed response themselves with this helper.

// The events of a Server-Sent Events response, each "data:" payload parsed from JSON, until the stream ends or
// sends "data: [DONE]" (the OpenAI convention). Blocks without data (": keep-alive" comments) are skipped.
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), {stream: !done});
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = done ? "" : blocks.pop();
    for (const block of blocks) {
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
      if (!data.length) continue;
      const text = data.join("\n");
      if (text === "[DONE]") return;
      yield JSON.parse(text);
    }
    if (done) return;
  }
}
