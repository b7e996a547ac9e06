import { describe, expect, it } from "vitest";
import { AccessDeniedError, SessionError } from "../src/errors.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";

/**
 * requireExplicitSessions in the library itself (REST and MCP go through it too): a named session
 * must be created before anything is written to it; a user's own session needs no creating.
 */
describe("requireExplicitSessions", () => {
  it("refuses writes to an unknown named session, and allows them once it is created", async () => {
    await using store = new ArtifactStore({
      sandboxId: uniqueSandbox("explicit"),
      requireExplicitSessions: true,
    });
    const write = (options: { sessionId?: string; userId?: string }) => store.store("x", options);
    await expect(write({ sessionId: "team-red", userId: "bob" })).rejects.toBeInstanceOf(SessionError);
    await expect(store.presignUpload({ sessionId: "team-red", userId: "bob" })).rejects.toBeInstanceOf(
      SessionError,
    );
    await expect(write({ sessionId: "team-red" })).rejects.toBeInstanceOf(SessionError);
    expect(await store.getSessionInfo("team-red")).toBeNull(); // nothing was claimed

    await store.createSession({ sessionId: "team-red", userId: "alice" });
    expect(await write({ sessionId: "team-red", userId: "alice" })).toMatch(/^[0-9a-f]{32}$/);
    await expect(write({ sessionId: "team-red", userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
    // One's own session, and a new anonymous one, still come on first use.
    expect(await write({ userId: "bob" })).toBeTruthy();
    expect(await write({ sessionId: "user_bob", userId: "bob" })).toBeTruthy();
    expect(await write({})).toBeTruthy();
  });

  it("is off by default: the first writer of a name owns it", async () => {
    await using store = new ArtifactStore({ sandboxId: uniqueSandbox("explicit") });
    await store.store("x", { sessionId: "team-blue", userId: "bob" });
    expect((await store.getSessionInfo("team-blue"))?.userId).toBe("bob");
  });

  it("is read from ARTIFACT_REQUIRE_SESSIONS", () => {
    const before = process.env.ARTIFACT_REQUIRE_SESSIONS;
    process.env.ARTIFACT_REQUIRE_SESSIONS = "1";
    try {
      expect(new ArtifactStore({ sandboxId: "env" }).config.requireExplicitSessions).toBe(true);
    } finally {
      if (before === undefined) delete process.env.ARTIFACT_REQUIRE_SESSIONS;
      else process.env.ARTIFACT_REQUIRE_SESSIONS = before;
    }
  });
});
