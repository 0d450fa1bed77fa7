import { MemoryFileSystem } from "./memory";
import { runConformanceSuite } from "../test-kit/conformance";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

runConformanceSuite("memory", async () => ({ fs: new MemoryFileSystem(), root: "/work" }));
