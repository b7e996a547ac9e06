import { ArtifactStore, QuotaExceededError } from "chuk-artifacts";

await using store = new ArtifactStore({
  quotas: { user: { bytes: 10_000, artifacts: 100 }, session: { artifacts: 20 } },
});

await store.store("revenue,12", {
  userId: "alice",
  filename: "reports/q1.csv",
  mime: "text/csv",
  meta: { team: "red" },
});
await store.store("revenue,15", {
  userId: "alice",
  filename: "reports/q2.csv",
  mime: "text/csv",
  meta: { team: "blue" },
});
await store.store(new Uint8Array(4000), { userId: "alice", filename: "img/chart.png", mime: "image/png" });

// A write past a quota is refused before anything is stored
try {
  await store.store(new Uint8Array(8000), { userId: "alice", filename: "img/big.png", mime: "image/png" });
} catch (err) {
  if (!(err instanceof QuotaExceededError)) throw err;
  console.log(err.code, err.scope, err.usage); // QUOTA_EXCEEDED user { bytes: 4020, artifacts: 3 }
}
console.log(await store.getUsage({ userId: "alice" })); // { bytes: 4020, artifacts: 3 }

// Search every session of alice's, newest first
const reports = await store.search({ userId: "alice", filename: "reports/*.csv" });
console.log(reports.items.map((m) => m.filename)); // [ 'reports/q2.csv', 'reports/q1.csv' ]
const red = await store.search({ userId: "alice", mime: "text/*", meta: { team: "red" } }, { limit: 10 });
console.log(
  red.items.map((m) => m.filename),
  red.cursor,
); // [ 'reports/q1.csv' ] null
