export async function run(_argv: string[]): Promise<number> {
  console.error("chuk-artifacts bench: not available in this build");
  return 1;
}
