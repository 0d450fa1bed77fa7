export { main, createProgram } from "./main";
export { EXIT, type CommandContext, type CommandModule } from "./context";
export { createProgress, type Progress } from "./progress";
