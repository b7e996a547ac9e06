// The `chuk-artifacts/mcp` entry: kept apart from the package root so that importing the library
// never loads the MCP SDK.
export { handleMcpHttp, type McpHttpContext, type McpHttpOptions } from "./http.js";
export { type ArtifactMcpOptions, createMcpServer } from "./server.js";
