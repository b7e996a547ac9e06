import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BodyTooLargeError, collect, HeldChunks, Measured, toChunks } from "../src/body.js";
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

describe("Measured: size and sha256 of a body, however it is held", () => {
  const parts = [Buffer.from("héllo "), Buffer.from("wörld"), Buffer.alloc(3000, 7)];
  const whole = Buffer.concat(parts);
  const expected = createHash("sha256").update(whole).digest("hex");
  const sources: [string, Uint8Array[], () => AsyncIterable<Uint8Array>][] = [
    ["one chunk at hand", [whole], () => new HeldChunks([whole])],
    ["several chunks at hand", parts, () => new HeldChunks(parts)],
    ["a stream of chunks", parts, () => generate(...parts) as AsyncIterable<Uint8Array>],
  ];

  for (const [name, , source] of sources) {
    it(`${name}: counted and hashed`, async () => {
      const measured = new Measured(source());
      if (measured.takeHeld() === null) await collect(measured);
      expect(measured.bytes).toBe(whole.byteLength);
      expect(measured.sha256).toBe(expected);
    });

    it(`${name}: refused past the limit`, async () => {
      const measured = new Measured(source(), whole.byteLength - 1);
      await expect(
        (async () => {
          if (measured.takeHeld() === null) await collect(measured);
        })(),
      ).rejects.toBeInstanceOf(BodyTooLargeError);
    });
  }

  it("an empty body has the sha256 of nothing", () => {
    const measured = new Measured(new HeldChunks([]));
    expect(measured.takeHeld()).toEqual([]);
    expect(measured.sha256).toBe(createHash("sha256").digest("hex"));
  });
});
