export { main, createProgram, exitQuietlyOnBrokenPipe } from "./main";
export { EXIT, type CommandContext, type CommandModule } from "./context";
export { createProgress, type Progress } from "./progress";
