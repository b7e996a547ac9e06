import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Redis } from "ioredis";

export interface Trips {
  http: number;
  redis: number;
}

/**
 * Counts round trips: HTTP requests this process sends (every S3 call is one) and commands the
 * Redis server executed (from INFO commandstats, less the INFO calls themselves).
 */
export class TripCounter {
  private http = 0;
  private readonly onRequest = () => {
    this.http++;
  };

  private constructor(private readonly redis: Redis | null) {
    subscribe("http.client.request.start", this.onRequest);
  }

  static async open(redisUrl: string | undefined): Promise<TripCounter> {
    if (!redisUrl) return new TripCounter(null);
    const { Redis } = await import("ioredis");
    const redis = new Redis(redisUrl, { lazyConnect: true });
    await redis.connect();
    return new TripCounter(redis);
  }

  async snapshot(): Promise<Trips> {
    let redis = 0;
    if (this.redis) {
      const info = await this.redis.info("commandstats");
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (m[1] !== "info") redis += Number(m[2]);
      }
    }
    return { http: this.http, redis };
  }

  async close(): Promise<void> {
    unsubscribe("http.client.request.start", this.onRequest);
    await this.redis?.quit().catch(() => {});
  }
}
