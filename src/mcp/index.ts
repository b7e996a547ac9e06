// The `chuk-artifacts/mcp` entry: kept apart from the package root so that importing the library
// never loads the MCP SDK.
export {
  createMcpEndpoint,
  handleMcpHttp,
  type McpHttpContext,
  type McpHttpEndpoint,
  type McpHttpOptions,
} from "./http.js";
export { type ArtifactMcpOptions, createMcpServer } from "./server.js";
export { type McpStdioOptions, serveMcpStdio } from "./stdio.js";
