import { Redis } from "ioredis";

/** A connection to `redisUrl` whose commands are noted as ioredis sends them: `"{name} {argument count}"`. */
export async function watchedClient(redisUrl: string): Promise<{ client: Redis; sent: string[] }> {
  const client = new Redis(redisUrl, { lazyConnect: true });
  await client.connect();
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string; args: unknown[] }, stream?: unknown) => {
    sent.push(`${command.name} ${command.args.length}`);
    return send(command as never, stream as never);
  }) as typeof client.sendCommand;
  return { client, sent };
}
