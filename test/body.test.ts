import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { collect, toChunks } from "../src/body.js";
import { ValidationError } from "../src/errors.js";

async function* generate(...parts: unknown[]) {
  for (const part of parts) yield part;
}

describe("toChunks: every accepted kind of data becomes the same bytes", () => {
  const expected = Buffer.from("héllo wörld");
  const cases: [string, () => unknown][] = [
    ["string", () => "héllo wörld"],
    ["Uint8Array", () => new Uint8Array(expected)],
    [
      "ArrayBuffer",
      () => expected.buffer.slice(expected.byteOffset, expected.byteOffset + expected.byteLength),
    ],
    ["Blob", () => new Blob([expected])],
    ["web ReadableStream", () => new Blob([expected.subarray(0, 3), expected.subarray(3)]).stream()],
    ["Node Readable", () => Readable.from([expected.subarray(0, 5), expected.subarray(5)])],
    ["async iterable", () => generate(expected.subarray(0, 2), expected.subarray(2))],
  ];
  it.each(cases)("%s", async (_name, make) => {
    expect(await collect(toChunks(make()))).toEqual(expected);
  });

  it("refuses what is not data, and a stream that yields non-bytes", async () => {
    for (const bad of [42, { a: 1 }, null, undefined, true])
      expect(() => toChunks(bad)).toThrow(ValidationError);
    await expect(collect(toChunks(generate(Buffer.from("a"), 7)))).rejects.toBeInstanceOf(ValidationError);
  });
});
