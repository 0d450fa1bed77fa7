import { MemoryFileSystem } from "./memory";
import { runConformanceSuite } from "../test-kit/conformance";

runConformanceSuite("memory", async () => ({ fs: new MemoryFileSystem(), root: "/work" }));
